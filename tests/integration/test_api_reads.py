"""ExactOnline reads against the sandbox: full and incremental pages, bookmarks, payments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exact_online_core.api import ExactOnline, RecordPage
from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.http import ExactClient
from exact_online_core.mappings.converters import parse_rfc3339
from exact_online_sandbox.server import Sandbox

DIVISIONS = (100001, 100002)
DIVISION = 100001
PROJECTS = {
    "name": "projects",
    "endpoint": "sync/Project/Projects",
    "primary_keys": ["ID"],
    "replication_key": "Timestamp",
    "select": ["ID", "Code", "Description", "Timestamp"],
}


@pytest.fixture
def api(config: ExactConfig, client: ExactClient, sandbox: Sandbox) -> ExactOnline:
    sandbox.set_limits(minutely=1000)
    return ExactOnline(config, client=client, clock=sandbox.now, custom_streams=[PROJECTS])


def calls(sandbox: Sandbox, key: str) -> int:
    return int(sandbox.calls()["by_endpoint"].get(key, 0))


def read_all(api: ExactOnline, stream: str, division: int, **kw: Any) -> list[RecordPage]:
    return list(api.read_pages(stream, division, **kw))


def records(pages: list[RecordPage]) -> list[dict[str, Any]]:
    return [r for p in pages for r in p.records]


def raw_ids(client: ExactClient, path: str, key: str, division: int) -> set[str]:
    rows = client.iter_rows(path, division=division, params={"$select": key})
    return {str(r[key]).lower() for r in rows}


SOURCES = {
    "generic_contact": ("crm/Contacts", "ID"),
    "generic_company": ("crm/Accounts", "ID"),
    "generic_user": ("users/Users", "UserID"),
    "accounting_invoice": ("salesinvoice/SalesInvoices", "InvoiceID"),
    "accounting_invoice_item": ("logistics/Items", "ID"),
    "accounting_invoice_line_item": ("salesinvoice/SalesInvoiceLines", "ID"),
}


@pytest.mark.parametrize("division", DIVISIONS)
@pytest.mark.parametrize("stream", sorted(SOURCES))
def test_full_read_returns_exactly_the_sandbox_rows(
    api: ExactOnline, client: ExactClient, stream: str, division: int
) -> None:
    got = records(read_all(api, stream, division))
    path, key = SOURCES[stream]
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids))
    assert set(ids) == raw_ids(client, path, key, division)
    assert all(r["division"] == division for r in got)


@pytest.mark.parametrize("division", DIVISIONS)
def test_workspace_is_the_division_row(api: ExactOnline, division: int) -> None:
    [page] = read_all(api, "generic_workspace", division)
    [record] = page.records
    assert record["id"] == str(division) and record["division"] == division
    assert record["currency"] == "EUR" and record["status"] == "active"
    assert page.bookmark is None


def test_company_values_are_mapped(api: ExactOnline, client: ExactClient) -> None:
    raw = {
        r["ID"]: r
        for r in client.iter_rows("crm/Accounts", division=DIVISION)
    }
    for record in records(read_all(api, "generic_company", DIVISION)):
        row = raw[record["id"]]
        assert record["name"] == row["Name"]
        assert record["code"] == row["Code"].strip()
        assert record["country"] == (row["Country"].strip() if row["Country"] else None)
        assert isinstance(record["exact_timestamp"], int)
        assert record["updated_at"].endswith("Z")


def test_invoice_values_lines_and_totals_match_exact(
    api: ExactOnline, client: ExactClient
) -> None:
    params = {"$expand": "SalesInvoiceLines"}
    raw = {r["InvoiceID"]: r for r in client.iter_rows(
        "salesinvoice/SalesInvoices", division=DIVISION, params=params)}
    for record in records(read_all(api, "accounting_invoice", DIVISION)):
        row = raw[record["id"]]
        lines = row["SalesInvoiceLines"]["results"]
        assert [li["id"] for li in record["line_items"]] == [li["ID"] for li in lines]
        assert record["total_amount"] == pytest.approx(row["AmountFC"])
        assert record["description"] == row["Description"]
        assert record["status"] in {"draft", "pending", "paid", "overdue"}
        assert (record["status"] == "draft") == (row["Status"] == 10)
        if row["Status"] != 50:
            assert record["balance"] == pytest.approx(row["AmountFC"])
        assert isinstance(record["exact_timestamp"], int)


@pytest.mark.parametrize(
    "stream",
    ["generic_contact", "generic_company", "accounting_invoice_item",
     "accounting_invoice_line_item", "generic_user", "projects"],
)
def test_read_from_bookmark_without_changes_is_empty_and_costs_one_call(
    api: ExactOnline, sandbox: Sandbox, stream: str
) -> None:
    last = read_all(api, stream, DIVISION)[-1]
    before = sandbox.calls()["total"]
    again = read_all(api, stream, DIVISION, since=last.bookmark, state=last.state)
    assert records(again) == []
    assert sandbox.calls()["total"] - before == 1
    if isinstance(last.bookmark, str):  # a Modified window moves on to where this read began
        assert parse_rfc3339(str(again[-1].bookmark)) >= parse_rfc3339(last.bookmark)
    else:
        assert again[-1].bookmark == last.bookmark


def test_invoice_read_without_changes_costs_sync_plus_receivables_check(
    api: ExactOnline, sandbox: Sandbox
) -> None:
    last = read_all(api, "accounting_invoice", DIVISION)[-1]
    sandbox.clear_calls()
    again = read_all(api, "accounting_invoice", DIVISION, since=last.bookmark, state=last.state)
    assert records(again) == []
    assert sandbox.calls()["by_endpoint"] == {
        "GET sync/SalesInvoice/SalesInvoices": 1, "GET bulk/Cashflow/Receivables": 1}


def test_update_then_read_from_bookmark_returns_only_the_changed_record(
    api: ExactOnline,
) -> None:
    last = read_all(api, "generic_company", DIVISION)[-1]
    target = records(read_all(api, "generic_company", DIVISION))[7]
    api.update("generic_company", DIVISION, target["id"], {"email": "changed@example.test"})
    changed = records(read_all(api, "generic_company", DIVISION, since=last.bookmark))
    assert [(r["id"], r["email"]) for r in changed] == [(target["id"], "changed@example.test")]
    assert changed[0]["exact_timestamp"] > int(last.bookmark or 0)


def _open_invoice(client: ExactClient) -> dict[str, Any]:
    rows = client.iter_rows("salesinvoice/SalesInvoices", division=DIVISION,
                            params={"$filter": "Status eq 20", "$select": "InvoiceID,AmountFC"})
    return next(r for r in rows if r["AmountFC"] > 0)


def test_paid_invoice_is_reemitted_paid_although_its_row_did_not_change(
    api: ExactOnline, client: ExactClient, sandbox: Sandbox
) -> None:
    invoice = _open_invoice(client)
    client.post("salesinvoice/PrintedSalesInvoices", {"InvoiceID": invoice["InvoiceID"]},
                division=DIVISION)
    first = read_all(api, "accounting_invoice", DIVISION)
    before = next(r for r in records(first) if r["id"] == invoice["InvoiceID"])
    assert before["balance"] == pytest.approx(invoice["AmountFC"]) and before["paid_at"] is None
    sandbox.advance_clock(60)
    sandbox.book_payment(DIVISION, invoice["InvoiceID"])
    second = read_all(api, "accounting_invoice", DIVISION, since=first[-1].bookmark,
                      state=first[-1].state)
    [paid] = records(second)
    assert paid["id"] == invoice["InvoiceID"]
    assert (paid["status"], paid["balance"]) == ("paid", 0.0)
    assert paid["paid_at"] is not None
    assert second[-1].bookmark == first[-1].bookmark  # no sync row changed
    third = read_all(api, "accounting_invoice", DIVISION, since=second[-1].bookmark,
                     state=second[-1].state)
    assert records(third) == []


def test_partial_payment_reduces_the_balance(
    api: ExactOnline, client: ExactClient, sandbox: Sandbox
) -> None:
    invoice = _open_invoice(client)
    client.post("salesinvoice/PrintedSalesInvoices", {"InvoiceID": invoice["InvoiceID"]},
                division=DIVISION)
    first = read_all(api, "accounting_invoice", DIVISION)
    sandbox.advance_clock(60)
    sandbox.book_payment(DIVISION, invoice["InvoiceID"], amount=10.0)
    [record] = records(read_all(api, "accounting_invoice", DIVISION, since=first[-1].bookmark,
                                state=first[-1].state))
    assert record["balance"] == pytest.approx(invoice["AmountFC"] - 10.0)
    assert record["status"] in ("pending", "overdue") and record["paid_at"] is None


def test_invoices_with_lines_on_two_sync_pages_are_emitted_once_with_all_lines(
    settings: dict[str, Any], sandbox: Sandbox, make_client: Callable[..., ExactClient]
) -> None:
    sandbox.reset(size={"invoices": 600})
    sandbox.set_limits(minutely=1000)
    fresh = ExactConfig.from_mapping({**settings, "refresh_token": sandbox.mint_refresh_token()})
    client = make_client(broker_from_config(fresh, clock=sandbox.now))
    api = ExactOnline(fresh, client=client, clock=sandbox.now)
    got = records(read_all(api, "accounting_invoice", DIVISION))
    assert calls(sandbox, "GET sync/SalesInvoice/SalesInvoices") >= 2  # the lines span pages
    assert len(got) == len({r["id"] for r in got}) == 600
    lines = raw_ids(client, "salesinvoice/SalesInvoiceLines", "ID", DIVISION)
    assert {li["id"] for r in got for li in r["line_items"]} == lines
    assert sum(len(r["line_items"]) for r in got) == len(lines)


def test_filter_on_a_sync_model_reads_the_bulk_endpoint_by_modified(
    api: ExactOnline, sandbox: Sandbox
) -> None:
    flt = "Country eq 'BE '"
    pages = read_all(api, "generic_company", DIVISION, filter=flt)
    got = records(pages)
    assert got and all(r["country"] == "BE" for r in got)
    assert calls(sandbox, "GET bulk/CRM/Accounts") == 1
    assert calls(sandbox, "GET sync/CRM/Accounts") == 0
    bookmark = pages[-1].bookmark
    assert isinstance(bookmark, str) and bookmark.endswith("Z")
    again = read_all(api, "generic_company", DIVISION, filter=flt, since=bookmark,
                     state=pages[-1].state)
    assert records(again) == []


def test_users_are_read_incrementally_by_updated_at(api: ExactOnline) -> None:
    pages = read_all(api, "generic_user", DIVISION)
    assert {r["email"] for r in records(pages)} >= {"sandbox.user@example.com"}
    bookmark = parse_rfc3339(str(pages[-1].bookmark))
    assert all(parse_rfc3339(r["updated_at"]) < bookmark for r in records(pages))
    again = read_all(api, "generic_user", DIVISION, since=pages[-1].bookmark,
                     state=pages[-1].state)
    assert records(again) == []


def test_custom_stream_reads_raw_rows_by_timestamp(
    api: ExactOnline, sandbox: Sandbox
) -> None:
    got = records(read_all(api, "projects", DIVISION))
    assert len(got) == sandbox.row_count("project/Projects", DIVISION)
    assert all(set(r) == {"ID", "Code", "Description", "Timestamp", "division"} for r in got)
    assert all(isinstance(r["Timestamp"], int) for r in got)
