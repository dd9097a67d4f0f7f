"""Exact's write rules as pure functions: value coercion, padding, amounts, derived rows."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .entities import ENTITIES, SERVER_FIELDS, EntityDef
from .errors import ExactApiError
from .filters import parse_datetime_ms

DAY_MS = 86_400_000
DEFAULT_VAT = 0.21
STATUS_TEXT = {10: "Draft", 20: "Open", 50: "Processed"}
TYPE_TEXT = {8020: "Sales invoice", 8021: "Sales credit note", 8023: "Direct sales invoice",
             8024: "Direct credit note"}
CREDIT_TYPES = frozenset({8021, 8024})
COUNTRY_NAMES = {"NL": "Netherlands", "BE": "Belgium", "DE": "Germany", "FR": "France",
                 "GB": "United Kingdom", "US": "United States", "DK": "Denmark",
                 "JP": "Japan", "IE": "Ireland", "ES": "Spain", "LU": "Luxembourg"}
JOURNALS = {"70": "Sales journal", "71": "Sales journal 2"}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def bad_body(message: str) -> ExactApiError:
    return ExactApiError(400, f"Error processing request stream. {message}")


def coerce_value(ftype: str, value: Any) -> Any:
    """A JSON value sent by a client → the canonical value of ``ftype``; ValueError if wrong."""
    if value is None or ftype == "unknown":
        return None
    if ftype in ("string", "binary"):
        if isinstance(value, str):
            return value
        raise ValueError("expected Edm.String" if ftype == "string" else "expected Edm.Binary")
    if ftype == "guid":
        if isinstance(value, str) and _GUID.match(value):
            return value.lower()
        raise ValueError("expected Edm.Guid")
    if ftype == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError("expected Edm.Boolean")
    if ftype in ("int", "int64"):
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise ValueError("expected an integer")
    if ftype == "decimal":
        if isinstance(value, bool):
            raise ValueError("expected a number")
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ValueError("expected a number") from None
        else:
            raise ValueError("expected a number")
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if ftype == "datetime":
        if isinstance(value, str):
            m = _DATE.match(value.strip())
            if m:
                return int(m.group(1))
            return parse_datetime_ms(value)
        raise ValueError("expected Edm.DateTime")
    raise ValueError(f"unknown type {ftype}")


def coerce_body(entity: EntityDef, body: Any, method: str = "POST"
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a POST/PUT body: (property values, collection values).

    A property the endpoint lacks, or a value of the wrong type, is Exact's 400. A property the
    endpoint has but does not take in a ``method`` body (``Created``, ``IsSales`` on
    crm/Accounts) is ignored, as real Exact does: the recorded POST crm/Accounts sent
    ``IsPurchase: false`` (GET-only in the reference), was answered 200, and the account read
    back has ``IsPurchase: true``.
    """
    if not isinstance(body, Mapping):
        raise bad_body("JSON text specified is not valid.")
    view = entity.main
    accepted = view.accepts.get(method, frozenset())
    values: dict[str, Any] = {}
    navs: dict[str, Any] = {}
    for name, raw in body.items():
        if name == "__metadata":
            continue
        if name in view.navigations:
            navs[name] = raw
            continue
        ftype = view.fields.get(name)
        if ftype is None:
            raise bad_body(f"The property name '{name}' specified for type "
                           f"'{entity.type_name}' is not valid.")
        try:
            value = coerce_value(ftype, raw)
        except ValueError as exc:
            raise bad_body(f"Type conversion failed for property '{name}' "
                           f"(value {raw!r}): {exc}.") from None
        if name in SERVER_FIELDS or name not in accepted:
            continue
        values[name] = value
    return values, navs


def mandatory(label: str) -> ExactApiError:
    return ExactApiError(400, f"Mandatory: {label}")


def invalid(label: str, detail: str = "") -> ExactApiError:
    return ExactApiError(400, f"Invalid: {label}" + (f" ({detail})" if detail else ""))


def pad_code(code: str | int) -> str:
    """Exact's fixed 18-character, right-aligned account code."""
    text = str(code).strip()
    if len(text) > 18:
        raise invalid("Code", "longer than 18 characters")
    return text.rjust(18)


def auto_code(number: int) -> str:
    """A code Exact assigns itself: 7 digits, right-aligned in 18 (``"           0000011"``,
    recorded for a new account and ``"           0000003"`` for a new contact)."""
    return f"{number:07d}".rjust(18)


def pad_country(country: str | None) -> str | None:
    if country is None:
        return None
    text = country.strip().upper()
    if len(text) > 3:
        raise invalid("Country", country)
    return text.ljust(3) if text else None


def full_name(first: str | None, middle: str | None, last: str | None) -> str:
    return " ".join(p.strip() for p in (first, middle, last) if p and p.strip())


def new_guid() -> str:
    return str(uuid.uuid4())


def blank(entity: EntityDef) -> dict[str, Any]:
    """A new row: every property null, then the entity's defaults (flags get their false/0
    with :func:`fill_flags` once the row's own rules have run)."""
    row: dict[str, Any] = dict.fromkeys(entity.fields)
    row.update(entity.defaults)
    return row


def fill_flags(entity: EntityDef, row: dict[str, Any]) -> dict[str, Any]:
    """Flags still null get Exact's value for them: false (Boolean) or 0 (Byte)."""
    for name, value in entity.template.items():
        if value is not None and row.get(name) is None:
            row[name] = value
    return row


def money(value: float) -> float:
    return round(value + 0.0, 2)


def price_line(line: dict[str, Any], item: Mapping[str, Any] | None, invoice_type: int) -> None:
    """Fill a sales invoice line's derived values (in place) the way Exact computes them."""
    if item is not None:
        line["ItemCode"] = item.get("Code")
        line["ItemDescription"] = item.get("Description")
        unit = (item.get("Unit") or "").strip() or None
        line["UnitCode"] = line.get("UnitCode") or unit
        line["UnitDescription"] = item.get("UnitDescription")
        if line.get("Description") is None:
            line["Description"] = item.get("Description")
    quantity = line.get("Quantity")
    quantity = 1.0 if quantity is None else float(quantity)
    if invoice_type in CREDIT_TYPES and quantity > 0:
        quantity = -quantity
    discount = float(line.get("Discount") or 0.0)
    unit_price, net_price = line.get("UnitPrice"), line.get("NetPrice")
    if unit_price is None and net_price is None:
        unit_price = float((item or {}).get("StandardSalesPrice") or 0.0)
    if net_price is None:
        net_price = float(unit_price or 0.0) * (1 - discount)
    if unit_price is None:
        unit_price = net_price if discount == 0 else net_price / (1 - discount)
    vat = line.get("VATPercentage")
    vat = DEFAULT_VAT if vat is None else float(vat)
    amount = money(float(net_price) * quantity)
    vat_amount = money(amount * vat)
    line.update(
        Quantity=quantity, Discount=discount, UnitPrice=money(float(unit_price)),
        NetPrice=float(net_price), VATPercentage=vat, AmountFC=amount, AmountDC=amount,
        VATAmountFC=vat_amount, VATAmountDC=vat_amount,
    )
    if line.get("VATCode") is None:
        line["VATCode"] = "2  " if vat else "0  "
        line["VATCodeDescription"] = f"VAT {round(vat * 100)}%" if vat else "VAT 0%"


def invoice_totals(header: dict[str, Any], lines: Sequence[Mapping[str, Any]]) -> None:
    """Header amounts from its lines (in place)."""
    excl = money(sum(float(ln.get("AmountFC") or 0.0) for ln in lines))
    vat = money(sum(float(ln.get("VATAmountFC") or 0.0) for ln in lines))
    header.update(
        AmountFCExclVat=excl, VATAmountFC=vat, VATAmountDC=vat, AmountFC=money(excl + vat),
        AmountDC=money(excl + vat), AmountDiscount=0.0, AmountDiscountExclVat=0.0,
    )


def describe_invoice(header: dict[str, Any]) -> None:
    header["StatusDescription"] = STATUS_TEXT.get(header.get("Status") or 0)
    header["TypeDescription"] = TYPE_TEXT.get(header.get("Type") or 0)
    header["JournalDescription"] = JOURNALS.get(header.get("Journal") or "", "Sales journal")


HEADER_ONLY = ("AmountDiscount", "AmountDiscountExclVat", "AmountFCExclVat")
"""Amounts of ``sync/SalesInvoice/SalesInvoices`` "only supported for header" (Exact's page
SyncSalesInvoiceSalesInvoices): filled on the header row (LineNumber 0) only."""
_LINE_OWN = ("AmountDC", "AmountFC", "VATAmountDC", "VATAmountFC", "Description", "Discount",
             "Created", "Creator", "CreatorFullName", "Modified", "Modifier", "ModifierFullName")


def header_row_id(invoice_id: str) -> str:
    """The ID of an invoice's header row on the sync endpoint (stable per invoice)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sync-header:{invoice_id}"))


def sync_row(header: Mapping[str, Any], line: Mapping[str, Any] | None, ts: int
             ) -> dict[str, Any]:
    """One ``sync/SalesInvoice/SalesInvoices`` row: the header row (``line`` None, LineNumber
    0, the invoice's totals and header-only amounts) or a line row (the line, its header's
    fields denormalised, header-only amounts null)."""
    from_header, from_line = _sync_fields()
    row: dict[str, Any] = {name: header.get(name) for name in from_header}
    if line is None:
        row.update(ID=header_row_id(str(header.get("InvoiceID"))), LineNumber=0)
    else:
        for name, own in from_line:
            if not own or name in line:
                row[name] = line.get(name)
        for name in HEADER_ONLY:
            row[name] = None
    row["InvoiceID"] = header.get("InvoiceID")
    row["Timestamp"] = ts
    return row


_SYNC_FIELDS: dict[tuple[int, int, int], tuple[tuple[str, ...], tuple[tuple[str, bool], ...]]] = {}


def _sync_fields() -> tuple[tuple[str, ...], tuple[tuple[str, bool], ...]]:
    """The sync row's properties taken from the header, and those taken from a line (with
    whether the line only gives it when it has it: a property of its own), in the sync
    entity's order; worked out once per set of entity definitions (the seed makes millions
    of these rows)."""
    sync = ENTITIES["SyncSalesInvoices"].fields
    lines = ENTITIES["SalesInvoiceLines"].fields
    invoice = ENTITIES["SalesInvoices"].fields
    key = (id(sync), id(lines), id(invoice))
    found = _SYNC_FIELDS.get(key)
    if found is None:
        from_header = tuple(name for name in sync if name in invoice)
        from_line = tuple(
            (name, not (name in lines and name not in invoice))
            for name in sync
            if (name in lines and name not in invoice) or name in _LINE_OWN)
        found = _SYNC_FIELDS[key] = (from_header, from_line)
    return found


def invoice_number(year: int, journal: str, seq: int) -> int:
    """Exact's default numbering: 2-digit year, journal code, 4-digit sequence (24700001)."""
    digits = "".join(ch for ch in journal if ch.isdigit()) or "70"
    return int(f"{year % 100:02d}{digits}{seq:04d}")


def receivable_for(
    invoice: Mapping[str, Any], account: Mapping[str, Any] | None, now_ms: int, user: str,
    user_name: str, receivable_id: str,
) -> dict[str, Any]:
    """The open receivable a processed invoice creates."""
    total = float(invoice.get("AmountDC") or 0.0)
    row = blank(ENTITIES["Receivables"])
    row.update(
        ID=receivable_id, Account=invoice.get("InvoiceTo"),
        AccountCode=(account or {}).get("Code"), AccountName=(account or {}).get("Name"),
        AmountDC=total, AmountFC=float(invoice.get("AmountFC") or 0.0),
        AmountDiscountDC=0.0, AmountDiscountFC=0.0, Currency=invoice.get("Currency"),
        Description=invoice.get("Description"), Division=invoice.get("Division"),
        DueDate=invoice.get("DueDate"), EntryDate=invoice.get("InvoiceDate"),
        EntryID=str(uuid.uuid5(uuid.NAMESPACE_URL, f"entry:{invoice.get('InvoiceID')}")),
        EntryNumber=invoice.get("InvoiceNumber"), InvoiceDate=invoice.get("InvoiceDate"),
        InvoiceNumber=invoice.get("InvoiceNumber"), IsFullyPaid=total == 0,
        Journal=invoice.get("Journal"), JournalDescription=invoice.get("JournalDescription"),
        PaymentCondition=invoice.get("PaymentCondition"),
        PaymentConditionDescription=invoice.get("PaymentConditionDescription"),
        PaymentReference=invoice.get("PaymentReference"), RateFC=1.0, Source=1,
        Status=50 if total == 0 else 20, TransactionAmountDC=total,
        TransactionAmountFC=float(invoice.get("AmountFC") or 0.0),
        TransactionDueDate=invoice.get("DueDate"), TransactionEntryID=invoice.get("InvoiceID"),
        TransactionIsReversal=False,
        TransactionType=21 if invoice.get("Type") in CREDIT_TYPES else 20,
        YourRef=invoice.get("YourRef"), Created=now_ms, Modified=now_ms, Creator=user,
        CreatorFullName=user_name, Modifier=user, ModifierFullName=user_name,
        EndDate=now_ms if total == 0 else None,
    )
    return row


def receivables_list_row(receivable: Mapping[str, Any], hid: int) -> dict[str, Any]:
    """The ``read/financial/ReceivablesList`` row of an open receivable."""
    return {
        "HID": hid, "AccountCode": receivable.get("AccountCode"),
        "AccountId": receivable.get("Account"), "AccountName": receivable.get("AccountName"),
        "Amount": receivable.get("AmountDC"), "AmountInTransit": 0.0,
        "CurrencyCode": receivable.get("Currency"), "Description": receivable.get("Description"),
        "DueDate": receivable.get("DueDate"), "EntryNumber": receivable.get("EntryNumber"),
        "Id": receivable.get("ID"), "InvoiceDate": receivable.get("InvoiceDate"),
        "InvoiceNumber": receivable.get("InvoiceNumber"), "JournalCode": receivable.get("Journal"),
        "JournalDescription": receivable.get("JournalDescription"),
        "YourRef": receivable.get("YourRef"),
    }


def apply_payment(receivable: dict[str, Any], amount: float | None, now_ms: int) -> None:
    """Reduce the outstanding amount (in place); the whole balance when ``amount`` is None."""
    outstanding = float(receivable.get("AmountDC") or 0.0)
    if receivable.get("IsFullyPaid") or outstanding == 0:
        raise ExactApiError(400, "This receivable is already fully paid.")
    if amount is None:
        paid = outstanding
    else:
        if amount <= 0:
            raise invalid("Amount", "must be positive")
        paid = math.copysign(amount, outstanding)
        if abs(paid) > abs(outstanding) + 0.005:
            raise invalid("Amount", f"exceeds the outstanding amount {abs(outstanding):.2f}")
    left = money(outstanding - paid)
    receivable.update(AmountDC=left, AmountFC=left, LastPaymentDate=now_ms, Modified=now_ms)
    if abs(left) < 0.005:
        receivable.update(AmountDC=0.0, AmountFC=0.0, IsFullyPaid=True, EndDate=now_ms,
                          Status=50)
