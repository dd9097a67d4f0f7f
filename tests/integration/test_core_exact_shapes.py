"""The core's paths for the shapes real Exact answers, run against the sandbox that now gives
them: header rows on sync/SalesInvoice/SalesInvoices, a nested ``__next`` in an expanded
collection, bare ``{"d": [...]}`` answers, Int64 Timestamps as JSON strings."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_core.api import ExactOnline
from exact_online_core.config import ExactConfig
from exact_online_core.http import ExactClient
from exact_online_sandbox.server import Sandbox

DIVISION = 100001


@pytest.fixture
def api(config: ExactConfig, client: ExactClient, sandbox: Sandbox) -> ExactOnline:
    sandbox.set_limits(minutely=1000)
    return ExactOnline(config, client=client, clock=sandbox.now)


def first_id(client: ExactClient, path: str) -> str:
    (row,) = client.iter_rows(path, division=DIVISION, params={"$select": "ID", "$top": "1"})
    return str(row["ID"])


def test_an_invoice_whose_expanded_lines_continue_at_a_nested_next_is_read_whole(
        api: ExactOnline, client: ExactClient) -> None:
    item = first_id(client, "logistics/Items")
    made = api.create("accounting_invoice", DIVISION, {
        "customer_company_id": first_id(client, "crm/Accounts"), "journal": "70",
        "type": "invoice",
        "line_items": [{"item_id": item, "quantity": n, "price_per_unit": 1.0}
                       for n in range(1, 66)]})
    body = client.get(f"salesinvoice/SalesInvoices(guid'{made['id']}')", division=DIVISION,
                      params={"$expand": "SalesInvoiceLines"})
    assert "__next" in body["d"]["SalesInvoiceLines"]  # Exact pages the nested set at 60
    invoice = api.retrieve("accounting_invoice", DIVISION, made["id"])
    assert [li["line_number"] for li in invoice["line_items"]] == list(range(1, 66))


def test_sync_header_rows_are_not_emitted_as_invoice_lines(api: ExactOnline,
                                                          client: ExactClient) -> None:
    rows = list(client.iter_rows("sync/SalesInvoice/SalesInvoices", division=DIVISION,
                                 params={"$select": "Timestamp,ID,InvoiceID,LineNumber"}))
    headers = {r["ID"] for r in rows if r["LineNumber"] == 0}
    assert headers  # the sandbox answers Exact's header rows
    lines = list(api.list("accounting_invoice_line_item", DIVISION))
    assert lines and not headers & {li["id"] for li in lines}
    assert {li["id"] for li in lines} == {r["ID"] for r in rows if r["LineNumber"] != 0}


def test_string_timestamps_become_integer_bookmarks(api: ExactOnline,
                                                    client: ExactClient) -> None:
    (row,) = client.iter_rows("sync/CRM/Accounts", division=DIVISION,
                              params={"$select": "ID,Timestamp", "$top": "1"})
    assert isinstance(row["Timestamp"], str)  # Edm.Int64 as Exact sends it
    pages = list(api.read_pages("generic_company", DIVISION))
    stamps = [r["exact_timestamp"] for p in pages for r in p.records]
    assert stamps and all(isinstance(s, int) for s in stamps)
    assert pages[-1].bookmark == max(stamps)


def test_a_bare_d_array_answer_is_read_as_one_page(client: ExactClient) -> None:
    body = client.get("crm/Accounts", division=DIVISION, params={"$select": "ID", "$top": "7"})
    assert isinstance(body["d"], list)  # Exact answers a $top below 60 with a bare array
    pages = list(client.iter_pages("crm/Accounts", division=DIVISION,
                                   params={"$select": "ID", "$top": "7"}))
    assert [len(p.rows) for p in pages] == [7]


def test_a_top_above_the_page_size_is_followed_to_its_next_page(client: ExactClient) -> None:
    rows: list[dict[str, Any]] = list(client.iter_rows(
        "crm/Contacts", division=DIVISION, params={"$select": "ID", "$top": "70"}))
    assert len(rows) == len({r["ID"] for r in rows}) == 70
