"""Seed the financial and trade side of a division: the books, their ledger, orders, purchasing.

Coherent with the CRM and sales data seeded before it: processed invoices have their sales
entries in the ledger, received payments their bank entries, purchase entries their payables
(``cashflow/Payments``) and bookings; sales orders, quotations and purchase orders reference the
seeded accounts and items with their prices (``logistics/SalesItemPrices``).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .books import (
    AP,
    COST_ACCOUNTS,
    DAY_MS,
    JOURNAL_BY_CODE,
    gl_fields,
    midnight,
    period_of,
    vat_for,
)
from .joined import order_rows
from .ledger import bank_entry, money, purchase_entry, sales_entry, setup_rows
from .seed_crm import Crm

FINANCE_SIZES: dict[str, int] = {"sales_orders": 15, "quotations": 10, "purchase_entries": 10,
                                 "purchase_invoices": 5, "purchase_orders": 8}
"""Default counts per division (``POST /_sandbox/reset`` ``size`` keys)."""

SEEDED: frozenset[str] = frozenset({
    "financial/GLClassifications", "financial/GLAccounts", "financial/Journals",
    "vat/VATCodes", "vat/VatPercentages", "financial/FinancialPeriods",
    "TransactionLines", "financialtransaction/Transactions", "salesorder/SalesOrders",
    "salesorder/SalesOrderLines", "crm/Quotations", "crm/QuotationLines",
    "purchaseentry/PurchaseEntries", "purchaseentry/PurchaseEntryLines",
    "purchase/PurchaseInvoices", "purchase/PurchaseInvoiceLines",
    "purchaseorder/PurchaseOrders", "purchaseorder/PurchaseOrderLines", "SyncPurchaseOrders",
    "cashflow/Payments", "logistics/SalesItemPrices",
})
"""Entities seeded here (the generic seeding leaves them alone)."""

Add = Callable[[str, dict[str, Any]], None]
Pick = Callable[[], Mapping[str, Any]]
"""A random account or item (drawn from the division's generator)."""
SO_STATUS = {12: "Open", 20: "Partial", 21: "Complete"}
QUOTE_STATUS = {25: "Open", 50: "Accepted", 5: "Rejected"}
PO_STATUS = {10: "Open", 20: "Partial", 30: "Complete"}


class FinanceSeeder:
    """Everything of one division after its accounts, items and invoices exist."""

    def __init__(self, add: Add, rng: random.Random, division: int, anchor: int,
                 audit: Callable[[int, int], dict[str, Any]], user: tuple[str, str]) -> None:
        self.add, self.rng, self.division, self.anchor = add, rng, division, anchor
        self.audit, self.user = audit, user
        self.bank_number = 0

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def when(self, days_back: int) -> int:
        return midnight(self.anchor - self.rng.randint(0, days_back) * DAY_MS)

    # --- books and ledger -------------------------------------------------------------------
    def books(self, created: int) -> None:
        year = period_of(self.anchor)[0]
        for name, row in setup_rows(self.division, "EUR", self.audit(created, created),
                                    range(year - 3, year + 1)):
            self.add(name, row)

    def invoice_booked(self, invoice: Mapping[str, Any], lines: Sequence[Mapping[str, Any]],
                       account: Mapping[str, Any] | None) -> None:
        """The sales entry of a processed invoice."""
        stamp = int(invoice["Modified"])
        entry, rows = sales_entry(self.division, invoice, lines, account,
                                  self.audit(stamp, stamp))
        self.add("financialtransaction/Transactions", entry)
        for row in rows:
            self.add("TransactionLines", row)

    def payment_booked(self, receivable: Mapping[str, Any], paid: float, date: int) -> None:
        """The bank entry of a payment received on an invoice."""
        self.bank_number += 1
        entry_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"payment:{receivable['ID']}:{date}"))
        entry, rows = bank_entry(self.division, receivable, paid, date,
                                 bank_entry_number(date, self.bank_number), entry_id,
                                 self.audit(date, date))
        self.add("financialtransaction/Transactions", entry)
        for row in rows:
            self.add("TransactionLines", row)

    # --- sales orders and quotations -----------------------------------------------------------
    def _trade_lines(self, items: Pick, count: int
                     ) -> list[dict[str, Any]]:
        out = []
        for n in range(1, count + 1):
            item = items()
            quantity = float(self.rng.randint(1, 10))
            price = float(item.get("StandardSalesPrice") or 10.0)
            vat = vat_for(self.rng.choice((0.21, 0.21, 0.09)))
            amount = money(price * quantity)
            out.append({"ID": self.guid(), "LineNumber": n, "Item": item["ID"],
                        "ItemCode": item["Code"], "ItemDescription": item["Description"],
                        "Description": item["Description"], "Quantity": quantity,
                        "UnitPrice": price, "NetPrice": price, "Discount": 0.0,
                        "AmountFC": amount, "AmountDC": amount, "VATCode": vat.code,
                        "VATCodeDescription": vat.description, "VATPercentage": vat.percentage,
                        "VATAmount": money(amount * vat.percentage),
                        "UnitCode": (item.get("Unit") or "").strip() or None,
                        "UnitDescription": item.get("UnitDescription")})
        return out

    def sales_orders(self, count: int, customers: Pick,
                     items: Pick) -> None:
        user, name = self.user
        for n in range(1, count + 1):
            account = customers()
            ordered = self.when(200)
            status = self.rng.choice((12, 12, 20, 21))
            lines = self._trade_lines(items, self.rng.randint(1, 3))
            excl = money(sum(ln["AmountFC"] for ln in lines))
            vat = money(sum(ln["VATAmount"] for ln in lines))
            order_id = self.guid()
            audit = self.audit(ordered + 3_600_000, ordered + self.rng.randint(0, 20) * DAY_MS)
            self.add("salesorder/SalesOrders", {
                **audit, "OrderID": order_id, "OrderNumber": n, "OrderDate": ordered,
                "DeliveryDate": ordered + 7 * DAY_MS, "Description": f"Order {n}",
                "OrderedBy": account["ID"], "OrderedByName": account["Name"],
                "InvoiceTo": account["ID"], "InvoiceToName": account["Name"],
                "DeliverTo": account["ID"], "DeliverToName": account["Name"],
                "Currency": "EUR", "Status": status, "StatusDescription": SO_STATUS[status],
                "DeliveryStatus": 21 if status == 21 else 12,
                "DeliveryStatusDescription": "Complete" if status == 21 else "Open",
                "InvoiceStatus": 21 if status == 21 else 12,
                "InvoiceStatusDescription": "Complete" if status == 21 else "Open",
                "ApprovalStatus": 1, "ApprovalStatusDescription": "Automatically",
                "Approved": audit["Created"], "Approver": user, "ApproverFullName": name,
                "PaymentCondition": "30", "PaymentConditionDescription": "30 dagen",
                "Salesperson": user, "SalespersonFullName": name, "Discount": 0.0,
                "AmountFCExclVat": excl, "AmountFC": money(excl + vat),
                "AmountDC": money(excl + vat), "AmountDiscount": 0.0,
                "AmountDiscountExclVat": 0.0, "VATAmount": vat})
            for line in lines:
                self.add("salesorder/SalesOrderLines", {
                    **audit, **line, "OrderID": order_id, "OrderNumber": n,
                    "DeliveryDate": ordered + 7 * DAY_MS, "UseDropShipment": 0,
                    "QuantityDelivered": line["Quantity"] if status == 21 else 0.0,
                    "QuantityInvoiced": line["Quantity"] if status == 21 else 0.0,
                    "DeliveryStatus": 21 if status == 21 else 12,
                    "InvoiceStatus": 21 if status == 21 else 12,
                    "Status": status, "StatusDescription": SO_STATUS[status],
                    "CostPriceFC": money(float(line["UnitPrice"]) * 0.6)})

    def quotations(self, count: int, customers: Pick,
                   items: Pick) -> None:
        user, name = self.user
        for n in range(1, count + 1):
            account = customers()
            dated = self.when(300)
            status = self.rng.choice((25, 25, 50, 5))
            lines = self._trade_lines(items, self.rng.randint(1, 3))
            excl = money(sum(ln["AmountFC"] for ln in lines))
            vat = money(sum(ln["VATAmount"] for ln in lines))
            quote_id = self.guid()
            audit = self.audit(dated + 3_600_000, dated + self.rng.randint(0, 10) * DAY_MS)
            who = {f"{role}Account": account["ID"] for role in ("Order", "Invoice", "Delivery")}
            who.update({f"{role}AccountName": account["Name"]
                        for role in ("Order", "Invoice", "Delivery")})
            who.update({f"{role}AccountCode": account["Code"]
                        for role in ("Order", "Invoice", "Delivery")})
            self.add("crm/Quotations", {
                **audit, **who, "QuotationID": quote_id, "QuotationNumber": n,
                "VersionNumber": 1, "QuotationDate": dated, "DueDate": dated + 30 * DAY_MS,
                "CloseDate": dated + 30 * DAY_MS, "Description": f"Offerte {n}",
                "Currency": "EUR", "Status": status, "StatusDescription": QUOTE_STATUS[status],
                "SalesPerson": user, "SalesPersonFullName": name, "PaymentCondition": "30",
                "PaymentConditionDescription": "30 dagen", "AmountFC": money(excl + vat),
                "AmountDC": money(excl + vat), "AmountDiscount": 0.0,
                "AmountDiscountExclVat": 0.0, "Discount": 0.0, "VATAmountFC": vat})
            for line in lines:
                self.add("crm/QuotationLines", {
                    **audit, "ID": line["ID"], "QuotationID": quote_id, "QuotationNumber": n,
                    "VersionNumber": 1, "LineNumber": line["LineNumber"], "Item": line["Item"],
                    "ItemDescription": line["ItemDescription"],
                    "Description": line["Description"], "Quantity": line["Quantity"],
                    "UnitPrice": line["UnitPrice"], "NetPrice": line["NetPrice"],
                    "Discount": 0.0, "AmountFC": line["AmountFC"], "AmountDC": line["AmountDC"],
                    "VATCode": line["VATCode"], "VATDescription": line["VATCodeDescription"],
                    "VATPercentage": line["VATPercentage"], "VATAmountFC": line["VATAmount"],
                    "Optional": False, "UnitCode": line["UnitCode"],
                    "UnitDescription": line["UnitDescription"]})

    # --- purchasing ----------------------------------------------------------------------------
    def purchase_entries(self, count: int, suppliers: Pick) -> None:
        journal = JOURNAL_BY_CODE["60"]
        for n in range(1, count + 1):
            supplier = suppliers()
            dated = self.when(300)
            year, period = period_of(dated)
            entry_id = self.guid()
            lines = []
            for k in range(1, self.rng.randint(1, 3) + 1):
                vat = vat_for(self.rng.choice((0.21, 0.21, 0.09)))
                amount = money(self.rng.randint(20, 2000) + self.rng.random())
                gl = self.rng.choice(COST_ACCOUNTS)
                lines.append({"ID": self.guid(), "EntryID": entry_id, "LineNumber": k,
                              **gl_fields(self.division, gl), "Description": f"Inkoop {n}.{k}",
                              "AmountDC": amount, "AmountFC": amount, "Quantity": 1.0,
                              "VATCode": vat.code, "VATCodeDescription": vat.description,
                              "VATPercentage": vat.percentage,
                              "VATAmountDC": money(amount * vat.percentage),
                              "VATAmountFC": money(amount * vat.percentage),
                              "VATBaseAmountDC": amount, "VATBaseAmountFC": amount, "Type": 20})
            excl = money(sum(ln["AmountDC"] for ln in lines))
            vat_total = money(sum(ln["VATAmountDC"] for ln in lines))
            audit = self.audit(dated + 3_600_000, dated + 3_600_000)
            number = int(f"{year % 100:02d}{journal.code}{n:04d}")
            header = {
                **audit, "EntryID": entry_id, "EntryNumber": number, "InvoiceNumber": number,
                "EntryDate": dated, "DueDate": dated + 30 * DAY_MS, "Journal": journal.code,
                "JournalDescription": journal.description, "Supplier": supplier["ID"],
                "SupplierName": supplier["Name"], "Description": f"Inkoopfactuur {n}",
                "Currency": "EUR", "Rate": 1.0, "AmountDC": money(excl + vat_total),
                "AmountFC": money(excl + vat_total), "VATAmountDC": vat_total,
                "VATAmountFC": vat_total, "PaymentCondition": "30",
                "PaymentConditionDescription": "30 dagen", "PaymentConditionPaymentMethod": "B",
                "ReportingYear": year, "ReportingPeriod": period, "Reversal": False,
                "Status": 20, "StatusDescription": "Open", "Type": 30,
                "TypeDescription": "Purchase entry", "ProcessNumber": 0,
                "YourRef": f"INV-{self.rng.randint(1000, 9999)}"}
            self.add("purchaseentry/PurchaseEntries", header)
            for line in lines:
                self.add("purchaseentry/PurchaseEntryLines", {**audit, **line})
            entry, booked = purchase_entry(self.division, header, lines, supplier, audit)
            self.add("financialtransaction/Transactions", entry)
            for row in booked:
                self.add("TransactionLines", row)
            self._payable(header, supplier, audit)

    def _payable(self, entry: Mapping[str, Any], supplier: Mapping[str, Any],
                 audit: Mapping[str, Any]) -> None:
        """The entry's open payable (``cashflow/Payments``); about a third are paid."""
        total = float(entry["AmountDC"])
        paid = self.rng.random() < 0.35
        self.add("cashflow/Payments", {
            **audit, "ID": self.guid(), "Account": supplier["ID"],
            "AccountCode": supplier["Code"], "AccountName": supplier["Name"],
            "AmountDC": 0.0 if paid else total, "AmountFC": 0.0 if paid else total,
            "AmountDiscountDC": 0.0, "AmountDiscountFC": 0.0, "Currency": "EUR",
            "Description": entry["Description"], "DueDate": entry["DueDate"],
            "EntryDate": entry["EntryDate"], "EntryID": entry["EntryID"],
            "EntryNumber": entry["EntryNumber"], "InvoiceDate": entry["EntryDate"],
            "InvoiceNumber": entry["InvoiceNumber"], "Journal": entry["Journal"],
            "JournalDescription": entry["JournalDescription"], **gl_fields(self.division, AP),
            "PaymentCondition": "30", "PaymentConditionDescription": "30 dagen",
            "PaymentDays": 30, "PaymentMethod": "B", "RateFC": 1.0, "Source": 1,
            "Status": 50 if paid else 20, "TransactionAmountDC": total,
            "TransactionAmountFC": total, "TransactionDueDate": entry["DueDate"],
            "TransactionEntryID": entry["EntryID"], "TransactionIsReversal": False,
            "TransactionType": 30, "IsBatchBooking": 0,
            "EndDate": entry["EntryDate"] + 20 * DAY_MS if paid else None,
            "YourRef": entry.get("YourRef")})

    def purchase_invoices(self, count: int, suppliers: Pick,
                          items: Pick) -> None:
        for n in range(1, count + 1):
            supplier = suppliers()
            dated = self.when(200)
            year, period = period_of(dated)
            invoice_id = self.guid()
            lines = self._trade_lines(items, self.rng.randint(1, 3))
            excl = money(sum(ln["AmountFC"] for ln in lines))
            vat = money(sum(ln["VATAmount"] for ln in lines))
            self.add("purchase/PurchaseInvoices", {
                "ID": invoice_id, "Supplier": supplier["ID"], "InvoiceDate": dated,
                "DueDate": dated + 30 * DAY_MS, "Journal": "60", "Currency": "EUR",
                "ExchangeRate": 1.0, "Description": f"Inkoop {n}", "Amount": money(excl + vat),
                "AmountDC": money(excl + vat), "AmountFCExclVat": excl, "VATAmount": vat,
                "AmountDiscount": 0.0, "AmountDiscountExclVat": 0.0, "Discount": 0.0,
                "FinancialYear": year, "FinancialPeriod": period, "Status": 10, "Source": 1,
                "Type": 8030, "PaymentCondition": "30", "Modified": dated + 3_600_000})
            for line in lines:
                self.add("purchase/PurchaseInvoiceLines", {
                    "ID": line["ID"], "InvoiceID": invoice_id, "LineNumber": line["LineNumber"],
                    "Item": line["Item"], "Description": line["Description"],
                    "Quantity": line["Quantity"], "QuantityInDefaultUnits": line["Quantity"],
                    "UnitPrice": line["UnitPrice"], "NetPrice": line["NetPrice"],
                    "Amount": line["AmountFC"], "AmountDC": line["AmountDC"], "Currency": "EUR",
                    "Discount": 0.0, "VATCode": line["VATCode"],
                    "VATPercentage": line["VATPercentage"], "VATAmount": line["VATAmount"],
                    "InvoiceType": 8030, "Rebill": False, "Unit": line["UnitCode"],
                    "Modified": dated + 3_600_000})

    def purchase_orders(self, count: int, suppliers: Pick,
                        items: Pick) -> list[tuple[dict[str, Any],
                                                                          list[dict[str, Any]]]]:
        user, name = self.user
        orders = []
        for n in range(1, count + 1):
            supplier = suppliers()
            dated = self.when(200)
            status = self.rng.choice((10, 10, 20, 30))
            order_id = self.guid()
            lines = self._trade_lines(items, self.rng.randint(1, 3))
            excl = money(sum(ln["AmountFC"] for ln in lines))
            vat = money(sum(ln["VATAmount"] for ln in lines))
            audit = self.audit(dated + 3_600_000, dated + self.rng.randint(0, 15) * DAY_MS)
            header = {
                **audit, "PurchaseOrderID": order_id, "OrderNumber": n, "OrderDate": dated,
                "ReceiptDate": dated + 10 * DAY_MS, "Supplier": supplier["ID"],
                "SupplierCode": supplier["Code"], "SupplierName": supplier["Name"],
                "Currency": "EUR", "ExchangeRate": 1.0, "Description": f"Bestelling {n}",
                "OrderStatus": status, "ReceiptStatus": status, "InvoiceStatus": 10,
                "ApprovalStatus": 1, "ApprovalStatusDescription": "Automatically",
                "PurchaseAgent": user, "PurchaseAgentFullName": name, "DropShipment": False,
                "AmountFC": money(excl + vat), "AmountDC": money(excl + vat),
                "AmountFCExclVat": excl, "AmountDiscount": 0.0, "AmountDiscountExclVat": 0.0,
                "Discount": 0.0, "VATAmount": vat, "PurchaseOrderLineCount": len(lines),
                "Source": 1, "PaymentCondition": "30", "PaymentConditionDescription": "30 dagen"}
            rows = []
            for line in lines:
                received = line["Quantity"] if status == 30 else 0.0
                rows.append({
                    **audit, "ID": line["ID"], "PurchaseOrderID": order_id,
                    "LineNumber": line["LineNumber"], "Item": line["Item"],
                    "ItemCode": line["ItemCode"], "ItemDescription": line["ItemDescription"],
                    "Description": line["Description"], "Quantity": line["Quantity"],
                    "QuantityInPurchaseUnits": line["Quantity"], "UnitPrice": line["UnitPrice"],
                    "NetPrice": line["NetPrice"], "AmountFC": line["AmountFC"],
                    "AmountDC": line["AmountDC"], "Discount": 0.0, "VATCode": line["VATCode"],
                    "VATDescription": line["VATCodeDescription"],
                    "VATPercentage": line["VATPercentage"], "VATAmount": line["VATAmount"],
                    "ReceivedQuantity": received, "InvoicedQuantity": 0.0,
                    "ReceiptDate": dated + 10 * DAY_MS, "Unit": line["UnitCode"],
                    "UnitDescription": line["UnitDescription"], "Rebill": False,
                    "ItemDivisable": False, "IsBatchNumberItem": 0, "IsSerialNumberItem": 0})
            self.add("purchaseorder/PurchaseOrders", header)
            for row in rows:
                self.add("purchaseorder/PurchaseOrderLines", row)
            orders.append((header, rows))
        return orders


def seed_trade(finance: FinanceSeeder, counts: Mapping[str, int], crm: Crm,
               add_sync_order: Callable[[dict[str, Any]], None]) -> None:
    """Sales orders, quotations and purchasing of a division (its accounts and items made
    again from their numbers as they are drawn; the items' prices are made with them)."""
    sizes = seed_sizes(counts)
    if not crm.n_accounts or not crm.n_items:
        return
    rng = finance.rng

    def customer() -> Mapping[str, Any]:
        return crm.customer(rng)

    def supplier() -> Mapping[str, Any]:
        return crm.supplier(rng)

    def sellable() -> Mapping[str, Any]:
        return crm.sales_item(rng)

    def item() -> Mapping[str, Any]:
        return crm.any_item(rng)

    finance.sales_orders(sizes["sales_orders"], customer, sellable)
    finance.quotations(sizes["quotations"], customer, sellable)
    finance.purchase_entries(sizes["purchase_entries"], supplier)
    finance.purchase_invoices(sizes["purchase_invoices"], supplier, item)
    for header, lines in finance.purchase_orders(sizes["purchase_orders"], supplier, item):
        for row in order_rows(header, lines):
            add_sync_order(row)


def bank_entry_number(date: int, n: int) -> int:
    """Bank entries are numbered per journal 20 and year, like sales entries (``26200001``)."""
    return int(f"{period_of(date)[0] % 100:02d}20{n:04d}")


def seed_sizes(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: int(counts.get(k, v)) for k, v in FINANCE_SIZES.items()}

