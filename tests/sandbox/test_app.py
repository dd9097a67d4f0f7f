"""The REST pipeline and Exact's response shapes over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import requests

from exact_online_sandbox.server import Sandbox

SCOPE_VIOLATED = {"error": {"code": "", "message": {
    "lang": "", "value": "Forbidden - Application Scope Violated"}}}


def _reader(sb: Sandbox) -> str:
    return sb.access_token("sandbox-crm-reader")


def test_unreachable_division_is_403_wrong_division(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Accounts", division=100003)
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "", "message": {
        "lang": "", "value": "Forbidden - WrongDivision"}}}


def test_unknown_division_is_403_wrong_division(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Accounts", division=999999)
    assert response.status_code == 403
    assert response.json()["error"]["message"]["value"] == "Forbidden - WrongDivision"


def test_scope_violation_is_403_for_crm_reader_on_items(sandbox: Sandbox) -> None:
    response = sandbox.call(_reader(sandbox), "logistics/Items")
    assert response.status_code == 403
    assert response.json() == SCOPE_VIOLATED


def test_read_scope_allows_get_but_not_post(sandbox: Sandbox) -> None:
    reader = _reader(sandbox)
    assert sandbox.call(reader, "crm/Accounts").status_code == 200
    response = sandbox.call(reader, "crm/Accounts", "POST", json={"Name": "X"})
    assert response.status_code == 403
    assert response.json() == SCOPE_VIOLATED


def test_unknown_endpoint_is_404(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "webhooks/WebhookTopics")
    assert response.status_code == 404
    assert "error" in response.json()


def test_post_on_sync_endpoint_is_405(sandbox: Sandbox, token: str) -> None:
    assert sandbox.call(token, "sync/CRM/Accounts", "POST", json={}).status_code == 405


def test_plain_page_is_60_rows_and_next_reduces_top(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Contacts?$select=ID,FullName&$top=70&$skip=0")
    d = response.json()["d"]
    assert len(d["results"]) == 60
    next_url = urlparse(d["__next"])
    query = parse_qs(next_url.query)
    assert query["$top"] == ["10"]
    assert query["$select"] == ["ID,FullName"]
    assert "$skiptoken" in query
    assert "$skip" not in query
    assert f"{next_url.scheme}://{next_url.netloc}" == sandbox.base_url
    rest = requests.get(d["__next"], timeout=30, headers={
        "Accept": "application/json", "Authorization": f"Bearer {token}"}).json()["d"]
    assert len(rest["results"]) == 10
    assert "__next" not in rest


def test_last_page_has_no_next(sandbox: Sandbox, token: str) -> None:
    d = sandbox.call(token, "crm/Contacts?$top=100&$skip=60").json()["d"]
    assert len(d["results"]) == 20
    assert "__next" not in d


def test_sync_page_holds_up_to_1000_rows(sandbox: Sandbox, token: str) -> None:
    sandbox.reset(size={"accounts": 1005})
    fresh = sandbox.access_token()
    d = sandbox.call(fresh, "sync/CRM/Accounts?$select=ID,Timestamp").json()["d"]
    assert len(d["results"]) == 1000
    assert "__next" in d


def test_single_entity_get_is_d_without_results(sandbox: Sandbox, token: str) -> None:
    key = sandbox.call(token, "crm/Accounts?$top=1").json()["d"][0]["ID"]
    d = sandbox.call(token, f"crm/Accounts(guid'{key}')").json()["d"]
    assert d["ID"] == key
    assert "results" not in d
    assert d["__metadata"]["type"] == "Exact.Web.Api.Models.Account"


def test_count_is_plain_text_integer(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Accounts/$count")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == str(sandbox.row_count("crm/Accounts"))


def test_current_me_is_a_one_row_collection(sandbox: Sandbox, token: str) -> None:
    results = sandbox.call(token, "current/Me", division=None).json()["d"]["results"]
    assert len(results) == 1
    assert results[0]["CurrentDivision"] == 100001


def test_post_account_without_prefer_returns_nulls_except_key(
        sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Null Corp"})
    assert response.status_code == 201
    d = response.json()["d"]
    assert d["ID"]
    assert d["Name"] is None


def test_post_account_with_prefer_representation_returns_values(
        sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Full Corp"},
                            headers={"Prefer": "return=representation"})
    assert response.status_code == 201
    assert response.json()["d"]["Name"] == "Full Corp"


def test_put_and_delete_answer_204_with_empty_body(sandbox: Sandbox, token: str) -> None:
    key = sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Temp"}).json()["d"]["ID"]
    put = sandbox.call(token, f"crm/Accounts(guid'{key}')", "PUT", json={"Name": "Temp 2"})
    delete = sandbox.call(token, f"crm/Accounts(guid'{key}')", "DELETE")
    assert (put.status_code, put.content) == (204, b"")
    assert (delete.status_code, delete.content) == (204, b"")
    assert sandbox.call(token, f"crm/Accounts(guid'{key}')").status_code == 404


def test_printed_sales_invoice_processes_the_invoice(sandbox: Sandbox, token: str) -> None:
    invoice = sandbox.call(token, "salesinvoice/SalesInvoices?$filter=Status eq 20&$top=1"
                           ).json()["d"][0]["InvoiceID"]
    response = sandbox.call(token, "salesinvoice/PrintedSalesInvoices", "POST",
                            json={"InvoiceID": invoice})
    assert response.status_code == 201
    status = sandbox.call(token, f"salesinvoice/SalesInvoices(guid'{invoice}')"
                          ).json()["d"]["Status"]
    assert status == 50


def test_without_json_accept_the_answer_is_atom_xml(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Accounts?$top=2", accept_json=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    assert response.text.count("<entry>") == 2


def test_errors_after_the_rate_limit_carry_rate_limit_headers(
        sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Nothing")
    assert response.status_code == 404
    assert "X-RateLimit-Minutely-Remaining" in response.headers


def test_bad_filter_is_400_with_odata_body(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Accounts?$filter=Nope eq eq 1")
    assert response.status_code == 400
    assert response.json()["error"]["message"]["value"]
