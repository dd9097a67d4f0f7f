"""Sales invoices as Exact runs them: nested lines, totals, status rules, processing, payments."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .entities import ENTITIES, EntityDef
from .errors import ExactApiError
from .ledger import bank_entry, sales_entry
from .rules import (
    CREDIT_TYPES,
    DAY_MS,
    JOURNALS,
    STATUS_TEXT,
    TYPE_TEXT,
    apply_payment,
    blank,
    coerce_body,
    describe_invoice,
    fill_flags,
    header_row_id,
    invalid,
    invoice_number,
    invoice_totals,
    mandatory,
    new_guid,
    price_line,
    receivable_for,
    receivables_list_row,
    sync_row,
)
from .seed_finance import bank_entry_number

if TYPE_CHECKING:
    from .backend import Backend

INVOICES = ENTITIES["SalesInvoices"]
LINES = ENTITIES["SalesInvoiceLines"]
SYNC = ENTITIES["SyncSalesInvoices"]
RECEIVABLES = ENTITIES["Receivables"]
RLIST = ENTITIES["ReceivablesList"]
EDITABLE = frozenset({10, 20})


def _not_found() -> ExactApiError:
    return ExactApiError(404, "Not found")


def _editable(header: dict[str, Any], action: str) -> None:
    status = header.get("Status")
    if status not in EDITABLE:
        number = header.get("InvoiceNumber")
        name = f"sales invoice {number}" if number else "this sales invoice"
        raise ExactApiError(
            400, f"Cannot {action} {name}: its status is {status} "
                 f"({STATUS_TEXT.get(status or 0, 'unknown')}); only draft (10) and open (20) "
                 f"invoices can be changed.")


def _account(b: Backend, division: int, field: str, key: Any) -> dict[str, Any]:
    account = b.find(ENTITIES["Accounts"], division, key) if key else None
    if account is None:
        raise invalid(field, f"Account {key} does not exist")
    return account


def _contact_name(b: Backend, division: int, field: str, key: Any) -> str | None:
    if not key:
        return None
    contact = b.find(ENTITIES["Contacts"], division, key)
    if contact is None:
        raise invalid(field, f"Contact {key} does not exist")
    name = contact.get("FullName")
    return str(name) if name is not None else None


def _fill_header(b: Backend, division: int, header: dict[str, Any]) -> None:
    """Names, references and defaults of an invoice header (validates references)."""
    if not header.get("OrderedBy"):
        raise mandatory("OrderedBy")
    for field in ("InvoiceTo", "DeliverTo"):
        if not header.get(field):
            header[field] = header["OrderedBy"]
    for prefix in ("OrderedBy", "InvoiceTo", "DeliverTo"):
        header[f"{prefix}Name"] = _account(b, division, prefix, header[prefix]).get("Name")
        person = f"{prefix}ContactPerson"
        header[f"{person}FullName"] = _contact_name(b, division, person, header.get(person))
    if header.get("Type") not in TYPE_TEXT:
        raise invalid("Type", str(header.get("Type")))
    if header.get("Journal") not in JOURNALS:
        raise invalid("Journal", str(header.get("Journal")))
    describe_invoice(header)


def _line(b: Backend, division: int, line: dict[str, Any], invoice_type: int) -> None:
    if not line.get("Item"):
        raise mandatory("Item")
    item = b.find(ENTITIES["Items"], division, line["Item"])
    if item is None:
        raise invalid("Item", f"Item {line['Item']} does not exist")
    price_line(line, item, invoice_type)
    if line.get("GLAccount") is None:
        line["GLAccount"] = item.get("GLRevenue")
        line["GLAccountDescription"] = "Revenue" if item.get("GLRevenue") else None


def _lines_of(b: Backend, division: int, invoice_id: str) -> list[dict[str, Any]]:
    lines = b.children(LINES, division, [invoice_id])
    lines.sort(key=lambda ln: ln.get("LineNumber") or 0)
    return lines


def _resync(b: Backend, division: int, header: dict[str, Any], lines: list[dict[str, Any]],
            changed: Collection[str] | None = None) -> None:
    """Totals, header save, and the invoice's sync rows.

    The header row (LineNumber 0) gets a new Timestamp on every change, and so do the line
    rows in ``changed`` (every line when None); the other line rows keep their Timestamp
    while their copy of the header's fields follows the header. Rows of removed lines go.
    """
    invoice_totals(header, lines)
    b.save(INVOICES, division, fill_flags(INVOICES, header))
    invoice_id = header["InvoiceID"]
    kept = {row["ID"]: row["Timestamp"] for row in b.children(SYNC, division, [invoice_id])}
    b.save(SYNC, division, sync_row(header, None, 0))
    current = {header_row_id(invoice_id)}
    for line in lines:
        current.add(line["ID"])
        row = sync_row(header, line, 0)
        if changed is None or line["ID"] in changed or line["ID"] not in kept:
            b.save(SYNC, division, row)
        else:
            row["Timestamp"] = kept[line["ID"]]
            b.store.put(SYNC.store_name, division, line["ID"], kept[line["ID"]], invoice_id, row)
    for gone in set(kept) - current:
        b.store.delete(SYNC.store_name, division, gone)


def _parse_lines(raw: Any) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, dict) and isinstance(raw.get("results"), list):
        return list(raw["results"])
    if isinstance(raw, list):
        return raw
    raise invalid("SalesInvoiceLines", "expected a list of lines")


def create_invoice(b: Backend, entity: EntityDef, division: int, body: Any) -> dict[str, Any]:
    values, navs = coerce_body(INVOICES, body)
    if navs.get("SalesInvoiceOrderChargeLines"):
        raise invalid("SalesInvoiceOrderChargeLines", "not supported by the sandbox")
    header = blank(INVOICES)
    header.update(values)
    invoice_id = header.get("InvoiceID") or new_guid()
    if b.find(INVOICES, division, invoice_id) is not None:
        raise ExactApiError(400, "Duplicate key: InvoiceID already exists.")
    div = b.division_row(division)
    today = b.now_ms() // DAY_MS * DAY_MS
    status = 20 if header.get("Status") is None else header["Status"]
    if status not in EDITABLE:
        raise invalid("Status", "a new invoice is draft (10) or open (20); process it with "
                                "PrintedSalesInvoices")
    header.update(
        InvoiceID=invoice_id, Status=status, Type=header.get("Type") or 8020,
        Journal=header.get("Journal") or "70", Currency=header.get("Currency") or
        div.get("Currency"), InvoiceNumber=None, Discount=0.0, DiscountType=1,
    )
    header["InvoiceDate"] = header.get("InvoiceDate") or today
    header["OrderDate"] = header.get("OrderDate") or header["InvoiceDate"]
    header["DueDate"] = header.get("DueDate") or header["InvoiceDate"] + 30 * DAY_MS
    header["PaymentCondition"] = header.get("PaymentCondition") or "30"
    header["PaymentConditionDescription"] = "30 days"
    _fill_header(b, division, header)
    b.stamp(header, division, created=True)
    user = b.user()
    header.update(Salesperson=header.get("Salesperson") or user["UserID"],
                  SalespersonFullName=user["FullName"],
                  OrderNumber=b.store.next_values(division, "order-number", start=1))
    lines: list[dict[str, Any]] = []
    for n, raw in enumerate(_parse_lines(navs.get("SalesInvoiceLines")), start=1):
        line_values, _ = coerce_body(LINES, raw)
        line = blank(LINES)
        line.update(line_values)
        line.update(ID=line.get("ID") or new_guid(), InvoiceID=invoice_id, LineNumber=n)
        _line(b, division, line, header["Type"])
        b.stamp(line, division, created=True)
        lines.append(line)
    for line in lines:
        b.save(LINES, division, fill_flags(LINES, line))
    _resync(b, division, header, lines)
    b.emit(INVOICES, division, "Create", invoice_id)
    return header


def update_invoice(b: Backend, entity: EntityDef, division: int, key: Any, body: Any) -> None:
    header = b.find(INVOICES, division, key)
    if header is None:
        raise _not_found()
    _editable(header, "update")
    values, navs = coerce_body(INVOICES, body, "PUT")
    if navs:
        raise invalid("SalesInvoiceLines", "change lines through salesinvoice/"
                                           "SalesInvoiceLines")
    values.pop("InvoiceID", None)
    if "Status" in values and values["Status"] not in EDITABLE:
        raise invalid("Status", "an invoice is processed with PrintedSalesInvoices")
    if "InvoiceDate" in values and "DueDate" not in values and values["InvoiceDate"]:
        values["DueDate"] = values["InvoiceDate"] + 30 * DAY_MS
    old_type = header.get("Type")
    header.update(values)
    _fill_header(b, division, header)
    b.stamp(header, division, created=False)
    lines = _lines_of(b, division, str(key))
    changed: set[str] | None = set()
    if (old_type in CREDIT_TYPES) != (header.get("Type") in CREDIT_TYPES):
        changed = None
        for line in lines:
            line["Quantity"] = -float(line.get("Quantity") or 0.0)
            price_line(line, None, 0)
            b.save(LINES, division, line)
    _resync(b, division, header, lines, changed)
    b.emit(INVOICES, division, "Update", key)


def delete_invoice(b: Backend, entity: EntityDef, division: int, key: Any) -> None:
    header = b.find(INVOICES, division, key)
    if header is None:
        raise _not_found()
    _editable(header, "delete")
    lines = _lines_of(b, division, str(key))
    b.store.delete_children(LINES.store_name, division, str(key))
    b.store.delete_children(SYNC.store_name, division, str(key))
    b.store.delete(INVOICES.store_name, division, key)
    # sync/Deleted (docs/sandbox.md): the invoice's InvoiceID and the ID of each of its lines,
    # all EntityType 13, so a client can tombstone the lines the invoice took with it.
    b.record_deleted(INVOICES, division, str(key))
    for line in lines:
        b.record_deleted(INVOICES, division, str(line["ID"]))
    b.emit(INVOICES, division, "Delete", key)


def _parent(b: Backend, division: int, invoice_id: Any, action: str) -> dict[str, Any]:
    header = b.find(INVOICES, division, invoice_id) if invoice_id else None
    if header is None:
        raise invalid("InvoiceID", f"Sales invoice {invoice_id} does not exist")
    _editable(header, action)
    return header


def create_line(b: Backend, entity: EntityDef, division: int, body: Any) -> dict[str, Any]:
    values, _ = coerce_body(LINES, body)
    if not values.get("InvoiceID"):
        raise mandatory("InvoiceID")
    header = _parent(b, division, values["InvoiceID"], "add a line to")
    lines = _lines_of(b, division, header["InvoiceID"])
    line = blank(LINES)
    line.update(values)
    line.update(ID=line.get("ID") or new_guid(),
                LineNumber=max((ln.get("LineNumber") or 0 for ln in lines), default=0) + 1)
    _line(b, division, line, header["Type"])
    b.stamp(line, division, created=True)
    b.save(LINES, division, line)
    b.stamp(header, division, created=False)
    _resync(b, division, header, [*lines, line], {line["ID"]})
    b.emit(INVOICES, division, "Update", header["InvoiceID"])
    return line


def update_line(b: Backend, entity: EntityDef, division: int, key: Any, body: Any) -> None:
    line = b.find(LINES, division, key)
    if line is None:
        raise _not_found()
    header = _parent(b, division, line["InvoiceID"], "update a line of")
    values, _ = coerce_body(LINES, body, "PUT")
    values.pop("ID", None)
    values.pop("InvoiceID", None)
    if "Item" in values and values["Item"] != line.get("Item"):
        line["Description"] = None
    if "UnitPrice" in values and "NetPrice" not in values:
        line["NetPrice"] = None
    if "NetPrice" in values and "UnitPrice" not in values:
        line["UnitPrice"] = None
    line.update(values)
    _line(b, division, line, header["Type"])
    b.stamp(line, division, created=False)
    b.save(LINES, division, line)
    b.stamp(header, division, created=False)
    lines = [ln if ln["ID"] != key else line for ln in _lines_of(b, division, header["InvoiceID"])]
    _resync(b, division, header, lines, {str(key)})
    b.emit(INVOICES, division, "Update", header["InvoiceID"])


def delete_line(b: Backend, entity: EntityDef, division: int, key: Any) -> None:
    line = b.find(LINES, division, key)
    if line is None:
        raise _not_found()
    header = _parent(b, division, line["InvoiceID"], "delete a line of")
    b.store.delete(LINES.store_name, division, key)
    b.record_deleted(INVOICES, division, str(key))  # the line's sync row is gone: type 13
    b.stamp(header, division, created=False)
    _resync(b, division, header, _lines_of(b, division, header["InvoiceID"]), set())
    b.emit(INVOICES, division, "Update", header["InvoiceID"])


def process(b: Backend, entity: EntityDef, division: int, body: Any) -> dict[str, Any]:
    """``PrintedSalesInvoices`` POST: status 50, an invoice number, and an open receivable."""
    values, _ = coerce_body(entity, body)
    if not values.get("InvoiceID"):
        raise mandatory("InvoiceID")
    header = b.find(INVOICES, division, values["InvoiceID"])
    if header is None:
        raise invalid("InvoiceID", f"Sales invoice {values['InvoiceID']} does not exist")
    if header.get("Status") not in EDITABLE:
        raise ExactApiError(400, f"Sales invoice {header.get('InvoiceNumber')} has already "
                                 f"been processed.")
    if values.get("InvoiceDate"):
        header["InvoiceDate"] = values["InvoiceDate"]
    year = datetime.fromtimestamp(header["InvoiceDate"] / 1000, UTC).year
    journal = header.get("Journal") or "70"
    seq = b.store.next_values(division, f"invoice-number:{year}:{journal}")
    header.update(Status=50, InvoiceNumber=invoice_number(year, journal, seq))
    describe_invoice(header)
    b.stamp(header, division, created=False)
    _resync(b, division, header, _lines_of(b, division, header["InvoiceID"]), set())
    user = b.user()
    account = b.find(ENTITIES["Accounts"], division, header.get("InvoiceTo"))
    receivable = receivable_for(header, account, b.now_ms(), user["UserID"], user["FullName"],
                                new_guid())
    receivable["Division"] = division
    b.save(RECEIVABLES, division, receivable)
    _book(b, division, *sales_entry(division, header, _lines_of(b, division,
                                                                 header["InvoiceID"]),
                                    account, _audit(b)))
    if not receivable["IsFullyPaid"]:
        hid = b.store.next_values(division, "receivables-hid", start=1)
        b.save(RLIST, division, receivables_list_row(receivable, hid))
    b.emit(INVOICES, division, "Update", header["InvoiceID"])
    printed = blank(entity)
    printed.update(values)
    printed.update(InvoiceID=header["InvoiceID"], Division=division,
                   InvoiceDate=header["InvoiceDate"])
    return printed


def _audit(b: Backend) -> dict[str, Any]:
    now, user = b.now_ms(), b.user()
    return {"Created": now, "Creator": user["UserID"], "CreatorFullName": user["FullName"],
            "Modified": now, "Modifier": user["UserID"], "ModifierFullName": user["FullName"]}


def _book(b: Backend, division: int, entry: dict[str, Any], lines: list[dict[str, Any]]
          ) -> None:
    """Save a financial entry: its Transactions row and its TransactionLines."""
    b.save(ENTITIES["financialtransaction/Transactions"], division, entry)
    for line in lines:
        b.save(ENTITIES["TransactionLines"], division, line)


def book_payment(b: Backend, division: int, invoice_id: str, amount: float | None) -> dict[
        str, Any]:
    found = b.children(RECEIVABLES, division, [invoice_id])
    if not found:
        if b.find(INVOICES, division, invoice_id) is None:
            raise _not_found()
        raise ExactApiError(400, "This sales invoice has not been processed: it has no "
                                 "receivable to pay.")
    receivable = found[0]
    before = float(receivable.get("AmountDC") or 0.0)
    apply_payment(receivable, amount, b.now_ms())
    b.save(RECEIVABLES, division, receivable)
    paid = round(before - float(receivable.get("AmountDC") or 0.0), 2)
    now = b.now_ms()
    number = bank_entry_number(now, b.store.next_values(division, "bank-entry"))
    _book(b, division, *bank_entry(division, receivable, paid, now, number, new_guid(),
                                   _audit(b)))
    listed = b.children(RLIST, division, [receivable["ID"]])
    for row in listed:
        if receivable["IsFullyPaid"]:
            b.store.delete(RLIST.store_name, division, row["HID"])
        else:
            row["Amount"] = receivable["AmountDC"]
            b.save(RLIST, division, row)
    return receivable
