"""The /_sandbox/ control API: health, reset, clock, limits, apps, grants, calls, rows, payments."""

from __future__ import annotations

import pytest

from exact_online_sandbox.control import call_key
from exact_online_sandbox.server import Sandbox


def test_health(sandbox: Sandbox) -> None:
    assert sandbox.control.get("/health") == {"ok": True}


@pytest.mark.parametrize(("method", "path", "key"), [
    pytest.param("GET", "/api/v1/100001/crm/Accounts(guid'ab')", "GET crm/Accounts", id="key"),
    pytest.param("GET", "/api/v1/100001/sync/CRM/Accounts", "GET sync/CRM/Accounts", id="sync"),
    pytest.param("GET", "/api/v1/current/Me", "GET current/Me", id="me"),
    pytest.param("POST", "/api/oauth2/token", "POST oauth2/token", id="token"),
    pytest.param("GET", "/api/v1/100001/salesinvoice/SalesInvoices(guid'a')/SalesInvoiceLines",
                 "GET salesinvoice/SalesInvoices/SalesInvoiceLines", id="navigation"),
])
def test_call_key_drops_division_and_keys(method: str, path: str, key: str) -> None:
    assert call_key(method, path) == key


def test_calls_are_counted_by_endpoint_and_status(sandbox: Sandbox, token: str) -> None:
    sandbox.clear_calls()
    sandbox.call(token, "crm/Accounts")
    sandbox.call(token, "crm/Accounts?$top=1")
    sandbox.call(token, "crm/Accounts", division=100003)
    calls = sandbox.calls()
    assert calls["total"] == 3
    assert calls["by_endpoint"] == {"GET crm/Accounts": 3}
    assert calls["by_status"] == {"200": 2, "403": 1}


def test_429s_are_counted_by_status(sandbox: Sandbox, token: str) -> None:
    sandbox.set_limits(minutely=0)
    sandbox.clear_calls()
    sandbox.call(token, "crm/Accounts")
    assert sandbox.calls()["by_status"] == {"429": 1}


def test_delete_calls_resets_the_counters(sandbox: Sandbox, token: str) -> None:
    sandbox.call(token, "crm/Accounts")
    sandbox.clear_calls()
    assert sandbox.calls() == {"total": 0, "by_endpoint": {}, "by_status": {},
                               "by_endpoint_status": {}}


def test_control_calls_are_not_counted(sandbox: Sandbox) -> None:
    sandbox.clear_calls()
    sandbox.control.get("/health")
    assert sandbox.calls()["total"] == 0


def test_reset_wipes_rows_tokens_and_restores_initial_refresh_token(
        sandbox: Sandbox, token: str) -> None:
    before = sandbox.row_count("crm/Accounts")
    sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Gone after reset"})
    sandbox.token_request(grant_type="refresh_token",
                          refresh_token=sandbox.initial_refresh_token)
    sandbox.reset()
    assert sandbox.row_count("crm/Accounts") == before
    assert sandbox.call(token, "crm/Accounts").status_code == 401
    again = sandbox.token_request(grant_type="refresh_token",
                                  refresh_token=sandbox.initial_refresh_token)
    assert again.status_code == 200


def test_reset_restores_default_limits_and_clears_faults(sandbox: Sandbox) -> None:
    sandbox.set_limits(minutely=1)
    sandbox.inject_fault("*", "status", status=500)
    sandbox.reset()
    assert sandbox.control.get("/limits")["minutely"] == 60
    assert sandbox.control.get("/faults")["faults"] == []


def test_reset_with_size_seeds_that_many_rows(sandbox: Sandbox) -> None:
    sandbox.reset(size={"accounts": 7})
    assert sandbox.row_count("crm/Accounts") == 7


def test_limits_change_and_read_back(sandbox: Sandbox) -> None:
    assert sandbox.set_limits(minutely=10, daily=100) == {
        "minutely": 10, "daily": 100, "token_daily": 200, "errors_hourly": 10,
        "error_blocks": [], "page_size": None, "plain_page_size": None}
    assert sandbox.control.get("/limits")["daily"] == 100


def test_page_sizes_can_be_lowered_and_reset_restores_exacts(
    sandbox: Sandbox, token: str
) -> None:
    sandbox.set_limits(page_size=7, plain_page_size=4)
    sync = sandbox.call(token, "sync/CRM/Accounts?$select=ID,Timestamp").json()["d"]
    plain = sandbox.call(token, "crm/Accounts?$select=ID").json()["d"]
    assert len(sync["results"]) == 7 and "__next" in sync
    assert len(plain["results"]) == 4 and "__next" in plain
    sandbox.reset()
    assert sandbox.control.get("/limits")["page_size"] is None  # Exact's own sizes
    assert sandbox.control.request("POST", "/limits", json={"page_size": 0}).status_code == 400


def test_clock_advance_moves_sandbox_time(sandbox: Sandbox) -> None:
    before = sandbox.now()
    after = sandbox.advance_clock(3600)
    assert after - before >= 3600


def test_clock_scale_is_reported(sandbox: Sandbox) -> None:
    sandbox.set_scale(60)
    assert sandbox.control.get("/clock")["scale"] == 60


def test_registered_app_gets_its_scopes(sandbox: Sandbox) -> None:
    sandbox.register_app("items-app", ["logistics.items:read"])
    items = sandbox.access_token("items-app")
    assert sandbox.call(items, "logistics/Items").status_code == 200
    assert sandbox.call(items, "crm/Accounts").status_code == 403


def test_apps_list_hides_secrets(sandbox: Sandbox) -> None:
    apps = sandbox.control.get("/apps")["apps"]
    assert {a["client_id"] for a in apps} == {"sandbox-client", "sandbox-crm-reader"}
    assert all("client_secret" not in a and "webhook_secret" not in a for a in apps)


def test_grant_mints_a_usable_refresh_token(sandbox: Sandbox) -> None:
    response = sandbox.token_request(grant_type="refresh_token",
                                     refresh_token=sandbox.mint_refresh_token())
    assert response.status_code == 200


def test_rows_counts_live_rows(sandbox: Sandbox, token: str) -> None:
    before = sandbox.row_count("crm/Accounts")
    sandbox.call(token, "crm/Accounts", "POST", json={"Name": "One more"})
    assert sandbox.row_count("crm/Accounts") == before + 1


def test_payment_of_whole_balance_fully_pays_a_processed_invoice(
        sandbox: Sandbox, token: str) -> None:
    invoice = sandbox.call(token, "salesinvoice/SalesInvoices?$filter=Status eq 50&$top=1"
                           ).json()["d"][0]["InvoiceID"]
    result = sandbox.book_payment(100001, invoice)
    assert result["IsFullyPaid"] is True


def test_payment_on_an_unprocessed_invoice_is_400(sandbox: Sandbox, token: str) -> None:
    invoice = sandbox.call(token, "salesinvoice/SalesInvoices?$filter=Status eq 20&$top=1"
                           ).json()["d"][0]["InvoiceID"]
    response = sandbox.control.request("POST", "/payments", json={
        "division": 100001, "invoice_id": invoice})
    assert response.status_code == 400


def test_unknown_control_path_is_404(sandbox: Sandbox) -> None:
    assert sandbox.control.request("GET", "/nothing").status_code == 404


def test_invalid_json_body_is_400(sandbox: Sandbox) -> None:
    response = sandbox.control.request("POST", "/limits", data=b"{not json",
                                       headers={"Content-Type": "application/json"})
    assert response.status_code == 400
