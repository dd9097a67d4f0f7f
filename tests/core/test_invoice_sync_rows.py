"""Real Exact's sync rows for sales invoices: a header row (LineNumber 0) and one row per line.

``sync/SalesInvoice/SalesInvoices`` gives each invoice a header row, whose amounts are the
header-only ones (the rest of it is empty), and its line rows (LineNumber 1..n, their own
amounts). A change to the header or a line gives the header row and that line's row new
Timestamps. The pages below have that shape; the core must emit only real lines in
``accounting_invoice_line_item`` and read each changed invoice once in ``accounting_invoice``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from exact_online_core import invoices_reader
from exact_online_core.invoice_log import SyncLogs
from exact_online_core.invoices_reader import read_invoices, read_lines, sync_source
from exact_online_core.mappings.base import FieldMap
from exact_online_core.odata import Page
from exact_online_core.readers import ReadContext, RecordPage

DIVISION = 100001
INVOICE_A = "aaaaaaaa-0000-4000-8000-000000000001"
INVOICE_B = "bbbbbbbb-0000-4000-8000-000000000002"
MODIFIED = "/Date(1780000000000)/"


def line_id(invoice: str, number: int) -> str:
    return f"{invoice[:8]}-1111-4000-8000-{number:012d}"


def header_row(invoice: str, stamp: int) -> dict[str, Any]:
    """Exact's header row: LineNumber 0, the header-only amounts, no line values."""
    return {"Timestamp": stamp, "ID": invoice, "InvoiceID": invoice, "LineNumber": 0,
            "Item": None, "Description": "Invoice header", "Quantity": None, "NetPrice": None,
            "AmountFC": 363.0, "AmountFCExclVat": 300.0, "VATAmountFC": 63.0,
            "AmountDiscount": 0.0, "VATCode": None, "Modified": MODIFIED}


def line_row(invoice: str, number: int, stamp: int, quantity: float = 1.0) -> dict[str, Any]:
    """A line row: its own amounts; the header-only ones empty."""
    return {"Timestamp": stamp, "ID": line_id(invoice, number), "InvoiceID": invoice,
            "LineNumber": number, "Item": "11111111-0000-4000-8000-000000000000",
            "Description": f"Line {number}", "Quantity": quantity, "NetPrice": 100.0,
            "AmountFC": 100.0 * quantity, "AmountFCExclVat": None,
            "VATAmountFC": 21.0 * quantity, "AmountDiscount": None, "VATCode": "2  ",
            "Modified": MODIFIED}


def plain_invoice(invoice: str, lines: int) -> dict[str, Any]:
    """``salesinvoice/SalesInvoices`` with its lines expanded (what the invoice stream reads)."""
    return {"InvoiceID": invoice, "InvoiceNumber": None, "Type": 8020, "Status": 20,
            "Currency": "EUR", "AmountFCExclVat": 100.0 * lines, "VATAmountFC": 21.0 * lines,
            "AmountFC": 121.0 * lines, "InvoiceTo": "22222222-0000-4000-8000-000000000000",
            "InvoiceDate": "/Date(1780000000000)/", "DueDate": "/Date(1782592000000)/",
            "Created": MODIFIED, "Modified": MODIFIED, "Journal": "70",
            "SalesInvoiceLines": {"results": [
                {k: v for k, v in line_row(invoice, n, 0).items() if k != "Timestamp"}
                for n in range(1, lines + 1)]}}


class SyncedExact:
    """Answers the sync endpoint from these pages (``Timestamp gt`` applied), the plain
    invoices by id, and no receivables; remembers which invoices were read."""

    def __init__(self, pages: list[list[dict[str, Any]]], invoices: dict[str, int]) -> None:
        self.pages, self.invoices = pages, invoices
        self.read: list[str] = []
        self.line_lookups: list[list[str]] = []
        self.sync_calls = 0

    def iter_pages(self, path: str, *, division: int | None = None,
                   params: Mapping[str, str] | None = None) -> Iterator[Page]:
        flt = (params or {}).get("$filter", "")
        if path == "sync/SalesInvoice/SalesInvoices":
            since = int(re.search(r"Timestamp gt (\d+)L", flt).group(1))  # type: ignore[union-attr]
            pages = [[r for r in page if r["Timestamp"] > since] for page in self.pages]
            pages = [page for page in pages if page] or [[]]
            for n, rows in enumerate(pages):
                self.sync_calls += 1
                yield Page(rows, "next" if n + 1 < len(pages) else None)
        elif path == "salesinvoice/SalesInvoices":
            ids = re.findall(r"InvoiceID eq guid'([0-9a-f-]+)'", flt)
            self.read += ids
            yield Page([plain_invoice(i, self.invoices[i]) for i in ids if i in self.invoices],
                       None)
        elif path == "bulk/SalesInvoice/SalesInvoiceLines":
            ids = re.findall(r"InvoiceID eq guid'([0-9a-f-]+)'", flt)
            self.line_lookups.append(ids)
            yield Page([line for i in ids if i in self.invoices
                        for line in plain_invoice(i, self.invoices[i])["SalesInvoiceLines"][
                            "results"]], None)
        else:
            assert path == "bulk/Cashflow/Receivables", path
            yield Page([], None)


def context(exact: SyncedExact) -> ReadContext:
    return ReadContext(exact, DIVISION, {}, datetime(2026, 6, 1, tzinfo=UTC),  # type: ignore[arg-type]
                       lambda: {"currency": "EUR"})


def records(pages: Iterator[RecordPage]) -> tuple[list[dict[str, Any]], int | str | None]:
    got = list(pages)
    return [r for page in got for r in page.records], got[-1].bookmark


FIRST_SYNC = [
    [header_row(INVOICE_A, 101), line_row(INVOICE_A, 1, 102), line_row(INVOICE_A, 2, 103)],
    [header_row(INVOICE_B, 104), line_row(INVOICE_B, 1, 105)],
]


def test_line_stream_emits_the_line_rows_and_never_a_header_row() -> None:
    lines, bookmark = records(read_lines(context(SyncedExact(FIRST_SYNC, {})), None, None,
                                         None))
    assert [(r["invoice_id"], r["line_number"]) for r in lines] == [
        (INVOICE_A, 1), (INVOICE_A, 2), (INVOICE_B, 1)]
    assert {r["id"] for r in lines}.isdisjoint({INVOICE_A, INVOICE_B})
    assert bookmark == 105


def test_line_records_carry_their_own_amounts_not_the_headers() -> None:
    lines, _ = records(read_lines(context(SyncedExact(FIRST_SYNC, {})), None, None, None))
    first = lines[0]
    assert (first["total_amount"], first["tax_amount"], first["quantity"]) == (100.0, 21.0, 1.0)


def test_a_changed_line_gives_its_row_and_the_header_row_new_stamps_and_only_it_is_emitted(
) -> None:
    changed = [[header_row(INVOICE_A, 106), line_row(INVOICE_A, 2, 107, quantity=3.0)]]
    exact = SyncedExact([*FIRST_SYNC, *changed], {})
    lines, bookmark = records(read_lines(context(exact), 105, None, None))
    assert [(r["id"], r["quantity"]) for r in lines] == [(line_id(INVOICE_A, 2), 3.0)]
    assert bookmark == 107


def test_a_page_of_header_rows_only_moves_the_line_bookmark() -> None:
    removed = [[header_row(INVOICE_B, 106)]]  # B's only line was removed: its header changed
    exact = SyncedExact([*FIRST_SYNC, *removed], {})
    lines, bookmark = records(read_lines(context(exact), 105, None, None))
    assert (lines, bookmark) == ([], 106)


def test_first_sync_builds_each_invoice_once_from_its_rows_without_reading_invoices() -> None:
    exact = SyncedExact(FIRST_SYNC, {INVOICE_A: 2, INVOICE_B: 1})
    invoices, bookmark = records(read_invoices(context(exact), None, None, None, None, None))
    assert [r["id"] for r in invoices] == [INVOICE_A, INVOICE_B]
    assert (exact.read, exact.line_lookups, exact.sync_calls) == ([], [], 2)
    assert bookmark == 105


def test_invoice_amounts_come_from_the_header_row_and_lines_from_the_line_rows() -> None:
    exact = SyncedExact(FIRST_SYNC, {INVOICE_A: 2, INVOICE_B: 1})
    invoices, _ = records(read_invoices(context(exact), None, None, None, None, None))
    first = invoices[0]
    assert (first["pre_tax_amount"], first["total_amount"]) == (300.0, 363.0)
    assert [line["line_number"] for line in first["line_items"]] == [1, 2]
    assert [line["total_amount"] for line in first["line_items"]] == [100.0, 100.0]


def test_a_line_synced_twice_in_a_first_sync_is_in_its_invoice_once_as_its_newest_row(
) -> None:
    edited = [[header_row(INVOICE_A, 106), line_row(INVOICE_A, 1, 107, quantity=5.0)]]
    exact = SyncedExact([*FIRST_SYNC, *edited], {INVOICE_A: 2, INVOICE_B: 1})
    invoices, _ = records(read_invoices(context(exact), None, None, None, None, None))
    first = next(r for r in invoices if r["id"] == INVOICE_A)
    assert [(line["line_number"], line["quantity"]) for line in first["line_items"]] == [
        (1, 5.0), (2, 1.0)]


def test_a_vat_pseudo_line_is_neither_a_line_record_nor_an_invoice_line() -> None:
    vat = {**line_row(INVOICE_A, 9999, 106), "ID": line_id(INVOICE_A, 9999)}
    exact = SyncedExact([*FIRST_SYNC, [vat]], {INVOICE_A: 2, INVOICE_B: 1})
    lines, _ = records(read_lines(context(exact), None, None, None))
    assert 9999 not in {r["line_number"] for r in lines}
    invoices, _ = records(read_invoices(context(SyncedExact([*FIRST_SYNC, [vat]], {
        INVOICE_A: 2, INVOICE_B: 1})), None, None, None, None, None))
    first = next(r for r in invoices if r["id"] == INVOICE_A)
    assert [line["line_number"] for line in first["line_items"]] == [1, 2]


def test_a_header_row_and_its_line_row_on_two_pages_read_the_invoice_once() -> None:
    straddling = [[line_row(INVOICE_B, 1, 110), header_row(INVOICE_A, 111)],
                  [line_row(INVOICE_A, 2, 112, quantity=2.0)]]
    exact = SyncedExact([*FIRST_SYNC, *straddling], {INVOICE_A: 2, INVOICE_B: 1})
    invoices, bookmark = records(read_invoices(context(exact), 105, None, None, None, None))
    assert sorted(r["id"] for r in invoices) == [INVOICE_A, INVOICE_B]
    assert bookmark == 112


def test_an_incremental_read_looks_up_the_lines_of_all_changed_invoices_in_one_call() -> None:
    changed = [[header_row(INVOICE_A, 106), line_row(INVOICE_A, 2, 107, quantity=3.0),
                header_row(INVOICE_B, 108)]]
    exact = SyncedExact([*FIRST_SYNC, *changed], {INVOICE_A: 2, INVOICE_B: 1})
    invoices, _ = records(read_invoices(context(exact), 105, None, None, None, None))
    assert [len(r["line_items"]) for r in invoices] == [2, 1]
    assert sorted(map(sorted, exact.line_lookups)) == [sorted([INVOICE_A, INVOICE_B])]
    assert exact.read == []


def test_invoices_and_lines_sharing_a_log_read_each_sync_page_once() -> None:
    exact = SyncedExact(FIRST_SYNC, {INVOICE_A: 2, INVOICE_B: 1})
    ctx = context(exact)
    logs = SyncLogs()
    invoice_log = logs.join(DIVISION, "accounting_invoice", 0, sync_source(ctx, 0))
    line_log = logs.join(DIVISION, "accounting_invoice_line_item", 0, sync_source(ctx, 0))
    invoices, _ = records(read_invoices(ctx, None, None, None, None, None, invoice_log))
    lines, _ = records(read_lines(ctx, None, None, None, line_log))
    assert (len(invoices), len(lines), exact.sync_calls) == (2, 3, 2)
    assert line_log.closed


def test_a_custom_invoice_field_the_sync_rows_lack_reads_headers_from_the_invoices() -> None:
    exact = SyncedExact(FIRST_SYNC, {INVOICE_A: 2, INVOICE_B: 1})
    shipping = FieldMap("shipping_method", "ShippingMethodCode", "string")
    ctx = ReadContext(exact, DIVISION, {"accounting_invoice": (shipping,)},  # type: ignore[arg-type]
                      datetime(2026, 6, 1, tzinfo=UTC), lambda: {"currency": "EUR"})
    invoices, _ = records(read_invoices(ctx, None, None, None, None, None))
    assert sorted(exact.read) == [INVOICE_A, INVOICE_B]
    assert [r["id"] for r in invoices] == [INVOICE_A, INVOICE_B]
    assert all("shipping_method" in r for r in invoices)


def test_custom_invoice_fields_the_sync_rows_carry_still_come_from_the_header_rows() -> None:
    exact = SyncedExact(FIRST_SYNC, {INVOICE_A: 2, INVOICE_B: 1})
    reference = FieldMap("your_ref", "YourRef", "string")
    ctx = ReadContext(exact, DIVISION, {"accounting_invoice": (reference,)},  # type: ignore[arg-type]
                      datetime(2026, 6, 1, tzinfo=UTC), lambda: {"currency": "EUR"})
    invoices, _ = records(read_invoices(ctx, None, None, None, None, None))
    assert (exact.read, len(invoices)) == ([], 2)


def test_a_resumed_first_sync_reads_from_the_start_and_looks_nothing_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(invoices_reader, "INVOICES_A_PAGE", 1)  # one invoice a page
    pages = list(read_invoices(context(SyncedExact(FIRST_SYNC, {INVOICE_A: 2, INVOICE_B: 1})),
                               None, None, None, None, None))
    stopped = next(p for p in pages if p.records)  # the run stops after invoice A's page
    assert stopped.state == {invoices_reader.FIRST_SYNC: True}
    exact = SyncedExact(FIRST_SYNC, {INVOICE_A: 2, INVOICE_B: 1})
    resumed = list(read_invoices(context(exact), stopped.bookmark, stopped.state, None, None,
                                 None))
    assert [r["id"] for p in resumed for r in p.records] == [INVOICE_B]
    assert (exact.read, exact.line_lookups) == ([], [])
    assert resumed[-1].state[invoices_reader.FIRST_SYNC] is False
