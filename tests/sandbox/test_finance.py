"""The financial side of the seed and its rules: books, ledger, orders, purchasing, prices."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import pytest

from exact_online_sandbox.backend import Backend, Query
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.entities import resolve
from exact_online_sandbox.store import Store

D = 100001


@pytest.fixture(scope="module")
def seeded() -> Backend:
    return Backend(Store(None), Clock(), seed=11)


@pytest.fixture
def backend() -> Backend:
    return Backend(Store(None), Clock(), seed=11)


def R(path: str) -> Any:
    resolved = resolve(path)
    assert resolved is not None, path
    return resolved


def every(b: Backend, path: str, flt: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = b.page(R(path), D, Query(filter=flt, skiptoken=token), 1000)
        rows += page.rows
        if page.next_params is None:
            return rows
        token = page.next_params["$skiptoken"]


def by_entry(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        out[line["EntryID"]].append(line)
    return out


def test_journals_and_vat_codes_point_at_accounts_of_the_chart(seeded: Backend) -> None:
    gl = {r["ID"]: r for r in every(seeded, "financial/GLAccounts")}
    journals = every(seeded, "financial/Journals")
    assert {j["Code"] for j in journals} >= {"10", "20", "60", "70", "90"}
    assert all(j["GLAccount"] in gl for j in journals if j["GLAccount"])
    assert {gl[j["GLAccount"]]["Code"] for j in journals if j["Code"] == "70"} == {"1300"}
    vat = every(seeded, "vat/VATCodes")
    assert {(v["Code"], v["Percentage"]) for v in vat} >= {("0  ", 0), ("1  ", 0.09),
                                                           ("2  ", 0.21)}
    assert all(v["GLToPay"] in gl for v in vat if v["GLToPay"])


def test_gl_accounts_belong_to_classifications(seeded: Backend) -> None:
    codes = {c["Code"] for c in every(seeded, "financial/GLClassifications")}
    assert {g["ReportingCode"] for g in every(seeded, "financial/GLAccounts")} <= codes


def test_financial_periods_are_twelve_contiguous_months_a_year(seeded: Backend) -> None:
    periods = sorted(every(seeded, "financial/FinancialPeriods"),
                     key=lambda p: (p["FinYear"], p["FinPeriod"]))
    years = {p["FinYear"] for p in periods}
    assert len(periods) == 12 * len(years) and len(years) >= 3
    for before, after in pairwise(periods):
        assert after["StartDate"] - before["EndDate"] == 86_400_000


def test_every_processed_invoice_has_a_balanced_sales_entry(seeded: Backend) -> None:
    entries = by_entry(every(seeded, "financialtransaction/TransactionLines"))
    gl = {r["ID"]: r["Code"] for r in every(seeded, "financial/GLAccounts")}
    for invoice in every(seeded, "salesinvoice/SalesInvoices"):
        lines = entries.get(invoice["InvoiceID"], [])
        if invoice["Status"] != 50:
            assert lines == []
            continue
        header = next(ln for ln in lines if ln["LineNumber"] == 0)
        assert (gl[header["GLAccount"]], header["AmountDC"]) == ("1300", invoice["AmountDC"])
        assert header["Account"] == invoice["InvoiceTo"]
        assert abs(sum(ln["AmountDC"] for ln in lines)) < 0.01


def test_paid_receivables_have_bank_entries_that_settle_them(seeded: Backend) -> None:
    lines = every(seeded, "financialtransaction/TransactionLines")
    bank = [ln for ln in lines if ln["JournalCode"] == "20"]
    settled = sum(-ln["AmountDC"] for ln in bank if ln["LineNumber"] == 1)
    receivables = every(seeded, "cashflow/Receivables")
    paid = sum(r["TransactionAmountDC"] - r["AmountDC"] for r in receivables)
    assert bank and abs(settled - paid) < 0.01


def test_purchase_entries_have_lines_a_booking_and_a_payable(seeded: Backend) -> None:
    entries = every(seeded, "purchaseentry/PurchaseEntries")
    lines = every(seeded, "purchaseentry/PurchaseEntryLines")
    booked = by_entry(every(seeded, "financialtransaction/TransactionLines"))
    payables = {p["TransactionEntryID"]: p for p in every(seeded, "cashflow/Payments")}
    assert entries
    for entry in entries:
        own = [ln for ln in lines if ln["EntryID"] == entry["EntryID"]]
        total = sum(ln["AmountDC"] + ln["VATAmountDC"] for ln in own)
        assert own and abs(total - entry["AmountDC"]) < 0.01
        assert abs(sum(ln["AmountDC"] for ln in booked[entry["EntryID"]])) < 0.01
        assert payables[entry["EntryID"]]["Account"] == entry["Supplier"]


def test_sales_orders_quotations_and_purchase_orders_add_up_to_their_lines(
        seeded: Backend) -> None:
    for header, lines, key, net in (
            ("salesorder/SalesOrders", "salesorder/SalesOrderLines", "OrderID",
             "AmountFCExclVat"),
            ("crm/Quotations", "crm/QuotationLines", "QuotationID", None),
            ("purchaseorder/PurchaseOrders", "purchaseorder/PurchaseOrderLines",
             "PurchaseOrderID", "AmountFCExclVat")):
        rows = every(seeded, header)
        children = every(seeded, lines)
        assert rows, header
        for row in rows:
            own = [c for c in children if c[key] == row[key]]
            assert own, (header, row[key])
            if net:
                assert abs(sum(c["AmountFC"] for c in own) - row[net]) < 0.01


def test_trade_lines_reference_seeded_items_and_accounts(seeded: Backend) -> None:
    items = {i["ID"] for i in every(seeded, "logistics/Items")}
    accounts = {a["ID"] for a in every(seeded, "crm/Accounts")}
    assert {ln["Item"] for ln in every(seeded, "salesorder/SalesOrderLines")} <= items
    assert {o["OrderedBy"] for o in every(seeded, "salesorder/SalesOrders")} <= accounts
    assert {o["Supplier"] for o in every(seeded, "purchaseorder/PurchaseOrders")} <= accounts


def test_every_item_has_its_standard_price_as_a_sales_price(seeded: Backend) -> None:
    prices = {p["Item"]: p["Price"] for p in every(seeded, "logistics/SalesItemPrices")}
    items = every(seeded, "logistics/Items")
    assert {i["ID"]: i["StandardSalesPrice"] for i in items} == prices


def test_sync_purchase_orders_have_one_row_per_line_with_the_order_fields(
        seeded: Backend) -> None:
    rows = every(seeded, "sync/PurchaseOrder/PurchaseOrders")
    lines = {ln["ID"]: ln for ln in every(seeded, "purchaseorder/PurchaseOrderLines")}
    orders = {o["PurchaseOrderID"]: o for o in every(seeded, "purchaseorder/PurchaseOrders")}
    assert {r["ID"] for r in rows} == set(lines)
    for row in rows:
        assert row["Supplier"] == orders[row["PurchaseOrderID"]]["Supplier"]
        assert row["Quantity"] == lines[row["ID"]]["Quantity"]


def test_processing_an_invoice_books_its_transaction_lines(backend: Backend) -> None:
    (invoice,) = [i for i in every(backend, "salesinvoice/SalesInvoices") if i["Status"] == 20][:1]
    before = backend.store.current_timestamp(D)
    backend.create(R("salesinvoice/PrintedSalesInvoices"), D,
                   {"InvoiceID": invoice["InvoiceID"]})
    synced = every(backend, "sync/Financial/TransactionLines", f"Timestamp gt {before}L")
    numbers = sorted(ln["LineNumber"] for ln in synced if ln["EntryID"] == invoice["InvoiceID"])
    invoice_lines = every(backend, "salesinvoice/SalesInvoiceLines",
                          f"InvoiceID eq guid'{invoice['InvoiceID']}'")
    assert numbers == [0, *range(1, len(invoice_lines) + 1), 9999]
    entries = every(backend, "financialtransaction/Transactions",
                    f"EntryID eq guid'{invoice['InvoiceID']}'")
    assert [e["JournalCode"] for e in entries] == ["70"]


def test_a_payment_books_bank_lines_and_settles_the_receivable(backend: Backend) -> None:
    receivable = next(r for r in every(backend, "cashflow/Receivables") if not r["IsFullyPaid"])
    before = backend.store.current_timestamp(D)
    backend.book_payment(D, receivable["TransactionEntryID"], None)
    settled = every(backend, "cashflow/Receivables", f"ID eq guid'{receivable['ID']}'")[0]
    assert settled["IsFullyPaid"] is True and settled["AmountDC"] == 0
    bank = [ln for ln in every(backend, "sync/Financial/TransactionLines",
                               f"Timestamp gt {before}L") if ln["JournalCode"] == "20"]
    assert sorted((ln["LineNumber"], ln["AmountDC"]) for ln in bank) == [
        (0, receivable["AmountDC"]), (1, -receivable["AmountDC"])]


def test_a_new_default_sales_price_becomes_the_items_standard_price(backend: Backend) -> None:
    item = every(backend, "logistics/Items")[0]
    backend.create(R("logistics/SalesItemPrices"), D, {"Item": item["ID"], "Price": 77.7})
    assert backend.find(R("logistics/Items").entity, D, item["ID"])["StandardSalesPrice"] == 77.7


def test_a_new_purchase_order_line_gives_the_order_new_sync_rows(backend: Backend) -> None:
    order = every(backend, "purchaseorder/PurchaseOrders")[0]
    item = every(backend, "logistics/Items")[0]
    before = backend.store.current_timestamp(D)
    backend.create(R("purchaseorder/PurchaseOrderLines"), D, {
        "PurchaseOrderID": order["PurchaseOrderID"], "Item": item["ID"], "Quantity": 2,
        "QuantityInPurchaseUnits": 2})
    synced = every(backend, "sync/PurchaseOrder/PurchaseOrders", f"Timestamp gt {before}L")
    lines = every(backend, "purchaseorder/PurchaseOrderLines",
                  f"PurchaseOrderID eq guid'{order['PurchaseOrderID']}'")
    assert {r["ID"] for r in synced} == {ln["ID"] for ln in lines}


def test_sizes_per_entity_come_from_the_reset_size_object() -> None:
    b = Backend(Store(None), Clock(), seed=3, size={"sales_orders": 3, "quotations": 0,
                                                    "purchase_orders": 2})
    assert len(every(b, "salesorder/SalesOrders")) == 3
    assert every(b, "crm/Quotations") == []
    assert len(every(b, "purchaseorder/PurchaseOrders")) == 2


ENTRIES, ENTRY_LINES = "purchaseentry/PurchaseEntries", "purchaseentry/PurchaseEntryLines"


def entry_modified(b: Backend, entry: str) -> int:
    return int(every(b, ENTRIES, f"EntryID eq guid'{entry}'")[0]["Modified"])


@pytest.mark.parametrize("write", ["PUT", "POST", "DELETE"])
def test_a_write_to_a_purchase_entry_line_restamps_its_entry(backend: Backend,
                                                             write: str) -> None:
    """Exact saves an entry with its lines: the recorded POST of a purchase entry answers a
    Modified later than its Created, equal to its ledger lines' Modified."""
    line = every(backend, ENTRY_LINES)[0]
    entry = line["EntryID"]
    before = entry_modified(backend, entry)
    backend.clock.advance(60)
    if write == "PUT":
        backend.update(R(f"{ENTRY_LINES}(guid'{line['ID']}')"), D, {"Description": "x"})
    elif write == "POST":
        backend.create(R(ENTRY_LINES), D, {"EntryID": entry, "GLAccount": line["GLAccount"],
                                           "AmountFC": 5.0})
    else:
        backend.delete(R(f"{ENTRY_LINES}(guid'{line['ID']}')"), D)
    assert entry_modified(backend, entry) >= before + 60_000


def test_deleting_a_purchase_entry_deletes_its_lines(backend: Backend) -> None:
    entry = every(backend, ENTRIES)[0]["EntryID"]
    assert every(backend, ENTRY_LINES, f"EntryID eq guid'{entry}'")
    backend.delete(R(f"{ENTRIES}(guid'{entry}')"), D)
    assert every(backend, ENTRY_LINES, f"EntryID eq guid'{entry}'") == []
