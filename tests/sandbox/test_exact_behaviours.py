"""The behaviours real Exact has, each against the running sandbox (HTTP on 127.0.0.1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlparse

import requests
from shapes import envelope, rows_of

from exact_online_sandbox.server import Sandbox

D = 100001


def get(sb: Sandbox, token: str, path: str, **kwargs: Any) -> Any:
    response = sb.call(token, path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def follow(token: str, url: str) -> Any:
    response = requests.get(url, timeout=30, headers={
        "Accept": "application/json", "Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


def invoice_with_lines(sb: Sandbox, token: str, count: int) -> dict[str, Any]:
    account = rows_of(get(sb, token, "crm/Accounts?$top=1&$select=ID"))[0]["ID"]
    item = rows_of(get(sb, token, "logistics/Items?$top=1&$select=ID"))[0]["ID"]
    made = sb.call(token, "salesinvoice/SalesInvoices", "POST", json={
        "OrderedBy": account, "Journal": "70", "Description": "Many lines",
        "SalesInvoiceLines": [{"Item": item, "Quantity": n, "NetPrice": 1.5}
                              for n in range(1, count + 1)]})
    assert made.status_code == 201, made.text
    return dict(made.json()["d"])


def newest_stamp(sb: Sandbox, token: str, path: str) -> int:
    rows = rows_of(get(sb, token, f"{path}?$select=Timestamp"))
    return max(int(r["Timestamp"]) for r in rows)


# --- sync/SalesInvoice/SalesInvoices and sync/Financial/TransactionLines ------------------------

def sync_invoice_rows(sb: Sandbox, token: str, invoice_id: str, since: int = 0
                      ) -> dict[int, dict[str, Any]]:
    rows = rows_of(get(sb, token, "sync/SalesInvoice/SalesInvoices?$filter=Timestamp gt "
                                  f"{since}L&$select=Timestamp,ID,InvoiceID,LineNumber,AmountFC,"
                                  "AmountFCExclVat,AmountDiscount,Description,Quantity"))
    return {r["LineNumber"]: r for r in rows if r["InvoiceID"] == invoice_id}


def test_sync_sales_invoices_answer_a_header_row_and_the_line_rows(sandbox: Sandbox,
                                                                    token: str) -> None:
    invoice = invoice_with_lines(sandbox, token, 3)
    rows = sync_invoice_rows(sandbox, token, invoice["InvoiceID"])
    assert sorted(rows) == [0, 1, 2, 3]
    assert rows[0]["Description"] == "Many lines" and rows[0]["Quantity"] is None
    assert rows[0]["AmountFC"] == invoice["AmountFC"]
    assert [rows[n]["Quantity"] for n in (1, 2, 3)] == [1, 2, 3]


def test_header_only_amounts_are_on_the_header_row_only(sandbox: Sandbox, token: str) -> None:
    invoice = invoice_with_lines(sandbox, token, 2)
    rows = sync_invoice_rows(sandbox, token, invoice["InvoiceID"])
    assert rows[0]["AmountFCExclVat"] == invoice["AmountFCExclVat"]
    assert rows[0]["AmountDiscount"] == 0
    assert [rows[n]["AmountFCExclVat"] for n in (1, 2)] == [None, None]
    assert [rows[n]["AmountDiscount"] for n in (1, 2)] == [None, None]


def test_a_line_change_gives_the_header_and_that_line_new_timestamps(sandbox: Sandbox,
                                                                    token: str) -> None:
    invoice = invoice_with_lines(sandbox, token, 3)
    rows = sync_invoice_rows(sandbox, token, invoice["InvoiceID"])
    since = newest_stamp(sandbox, token, "sync/SalesInvoice/SalesInvoices")
    changed = sandbox.call(token, f"salesinvoice/SalesInvoiceLines(guid'{rows[2]['ID']}')",
                           "PUT", json={"Quantity": 9})
    assert changed.status_code == 204
    assert sorted(sync_invoice_rows(sandbox, token, invoice["InvoiceID"], since)) == [0, 2]


def test_a_header_change_gives_the_header_row_a_new_timestamp(sandbox: Sandbox,
                                                              token: str) -> None:
    invoice = invoice_with_lines(sandbox, token, 2)
    since = newest_stamp(sandbox, token, "sync/SalesInvoice/SalesInvoices")
    sandbox.call(token, f"salesinvoice/SalesInvoices(guid'{invoice['InvoiceID']}')", "PUT",
                 json={"Description": "Renamed"})
    changed = sync_invoice_rows(sandbox, token, invoice["InvoiceID"], since)
    assert sorted(changed) == [0] and changed[0]["Description"] == "Renamed"


def test_sync_transaction_lines_answer_a_header_row_and_the_line_rows(sandbox: Sandbox,
                                                                     token: str) -> None:
    invoice = invoice_with_lines(sandbox, token, 2)
    since = newest_stamp(sandbox, token, "sync/Financial/TransactionLines")
    printed = sandbox.call(token, "salesinvoice/PrintedSalesInvoices", "POST",
                           json={"InvoiceID": invoice["InvoiceID"]})
    assert printed.status_code == 201
    rows = rows_of(get(sandbox, token, f"sync/Financial/TransactionLines?$filter=Timestamp gt "
                                       f"{since}L&$select=EntryID,LineNumber,AmountDC,GLAccount"))
    numbers = sorted(r["LineNumber"] for r in rows if r["EntryID"] == invoice["InvoiceID"])
    assert numbers == [0, 1, 2, 9999]
    header = next(r for r in rows if r["LineNumber"] == 0)
    assert header["AmountDC"] == invoice["AmountDC"]


# --- $expand, $orderby, envelopes --------------------------------------------------------------

def test_expand_pages_the_nested_set_at_60_with_a_nested_next(sandbox: Sandbox,
                                                             token: str) -> None:
    invoice = invoice_with_lines(sandbox, token, 65)
    body = get(sandbox, token, f"salesinvoice/SalesInvoices(guid'{invoice['InvoiceID']}')"
                               "?$expand=SalesInvoiceLines")
    nested = body["d"]["SalesInvoiceLines"]
    assert len(nested["results"]) == 60 and "__next" in nested
    rest = follow(token, nested["__next"])
    ids = [r["ID"] for r in nested["results"]] + [r["ID"] for r in rows_of(rest)]
    assert len(ids) == len(set(ids)) == 65


def test_orderby_paging_continues_with_a_skiptoken_of_the_sort_value_and_key(
        sandbox: Sandbox, token: str) -> None:
    # the recorded request: financial/GLAccounts?$orderby=Modified asc&$select=…&$top=100
    sandbox.reset(size={"contacts": 130})
    token = sandbox.access_token()  # a reset revokes every token
    body = get(sandbox, token, "crm/Contacts?$orderby=Modified asc&$select=ID,FullName,Modified"
                               "&$top=100")
    rows, next_url = body["d"]["results"], body["d"]["__next"]
    query = dict(parse_qsl(urlparse(next_url).query))
    assert "$skip" not in query and query["$top"] == "40"
    assert query["$orderby"] == "Modified asc" and query["$select"] == "ID,FullName,Modified"
    assert query["$skiptoken"].startswith("datetime'")
    assert query["$skiptoken"].endswith(f",guid'{rows[-1]['ID']}'")
    assert "%3A" in next_url and "Modified%20asc" in next_url
    rest = follow(token, next_url)["d"]["results"]
    stamps = [r["Modified"] for r in rows + rest]
    assert len(rest) == 40 and len({r["ID"] for r in rows + rest}) == 100
    assert stamps == sorted(stamps, key=lambda s: int(s[6:-2]))


def test_top_below_the_page_size_answers_a_bare_d_array(sandbox: Sandbox, token: str) -> None:
    # recorded: $top=60 without $skip, $top=50 with $skip=0 → {"d": [...]}
    assert envelope(get(sandbox, token, "crm/Contacts?$select=ID&$top=60")) == "bare"
    assert envelope(get(sandbox, token, "logistics/Items?$select=ID&$skip=0&$top=50")) == "bare"


def test_other_collections_answer_d_results(sandbox: Sandbox, token: str) -> None:
    # recorded: $top=60&$skip=0, $top=100 and no $top → {"d": {"results": [...]}}
    assert envelope(get(sandbox, token, "crm/Contacts?$select=ID&$skip=0&$top=60")) \
        .startswith("results")
    assert envelope(get(sandbox, token, "crm/Contacts?$select=ID&$top=100")) \
        .startswith("results")
    assert envelope(get(sandbox, token, "crm/Contacts?$select=ID")).startswith("results")


# --- divisions ------------------------------------------------------------------------------

def test_hrm_divisions_lists_the_users_divisions(sandbox: Sandbox, token: str) -> None:
    rows = rows_of(get(sandbox, token, "hrm/Divisions"))
    assert [r["Code"] for r in rows] == [100001, 100002]
    assert rows[0]["__metadata"]["type"] == "Exact.Web.Api.Models.Division"
    assert [r["Main"] for r in rows] == [True, False]


def test_all_divisions_lists_the_licences_divisions_the_user_cannot_open(
        sandbox: Sandbox, token: str) -> None:
    every = [r["Code"] for r in rows_of(get(sandbox, token, "system/AllDivisions"))]
    reachable = [r["Code"] for r in rows_of(get(sandbox, token, "system/Divisions"))]
    assert every == [100001, 100002, 100003] and reachable == [100001, 100002]
    assert sandbox.call(token, "crm/Accounts", division=100003).status_code == 403


# --- POST answers and codes --------------------------------------------------------------------

def test_post_without_prefer_answers_only_the_key_and_flag_defaults(sandbox: Sandbox,
                                                                    token: str) -> None:
    # recorded: POST crm/Accounts, crm/Contacts, logistics/Items answer nulls but ID, 0 flags
    made = get_post(sandbox, token, "logistics/Items", {"Code": "NUL-1", "Description": "X"})
    assert made["ID"] and made["Code"] is None and made["Description"] is None
    assert made["IsMakeItem"] == 0 and made["CopyRemarks"] == 0
    full = get(sandbox, token, f"logistics/Items(guid'{made['ID']}')")["d"]
    assert (full["Code"], full["Description"]) == ("NUL-1", "X")


def test_post_of_a_sales_invoice_answers_the_whole_invoice(sandbox: Sandbox,
                                                           token: str) -> None:
    # recorded: POST salesinvoice/SalesInvoices without Prefer came back filled
    invoice = invoice_with_lines(sandbox, token, 1)
    assert invoice["Status"] == 20 and invoice["StatusDescription"] == "Open"
    assert invoice["OrderedByName"] and "__deferred" in invoice["SalesInvoiceLines"]


def get_post(sb: Sandbox, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = sb.call(token, path, "POST", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["d"])


def test_contact_code_is_assigned_and_padded_like_exacts(sandbox: Sandbox, token: str) -> None:
    account = rows_of(get(sandbox, token, "crm/Accounts?$top=1&$select=ID"))[0]["ID"]
    made = get_post(sandbox, token, "crm/Contacts",
                    {"Account": account, "FirstName": "Alice", "LastName": "Test"})
    code = get(sandbox, token, f"crm/Contacts(guid'{made['ID']}')?$select=Code")["d"]["Code"]
    # recorded: "           0000003": seven digits, right-aligned in 18 characters
    assert len(code) == 18 and code.lstrip(" ").isdigit() and len(code.strip()) == 7


def test_sync_filter_on_anything_but_timestamp_is_refused(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "sync/CRM/Accounts?$filter=Name eq 'x'")
    assert response.status_code == 400
    assert response.json()["error"]["message"]["value"] == (
        "This $filter parameter is not supported for this resource")
