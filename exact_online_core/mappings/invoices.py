"""Sales invoice rules that are logic, not table data: sync rows → invoices, status, balance.

Sales invoices are read from ``sync/SalesInvoice/SalesInvoices``, which has one row per
invoice *line* with the header fields copied onto each row. :func:`group_invoice_rows` and
:class:`InvoiceRowBuffer` turn those rows back into (header, lines) pairs;
:func:`invoice_to_unified` builds the unified invoice (status, balance and ``paid_at`` come
from the invoice's receivables, see :func:`invoice_balance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from exact_online_core.errors import ValidationError
from exact_online_core.mappings.accounting import (
    ACCOUNTING_INVOICE,
    ACCOUNTING_INVOICE_LINE_ITEM,
)
from exact_online_core.mappings.base import FieldMap, to_exact, to_unified
from exact_online_core.mappings.converters import READERS, parse_rfc3339
from exact_online_core.odata import parse_date

# ---------------------------------------------------------------------------------------------
# Sync rows → (header, lines)
# ---------------------------------------------------------------------------------------------

LINE_ONLY_FIELDS = frozenset(
    {"ID", "LineNumber", "Item", "ItemCode", "ItemDescription", "Quantity", "NetPrice",
     "UnitPrice", "UnitCode", "UnitDescription", "VATCode", "VATCodeDescription",
     "VATPercentage", "GLAccount", "GLAccountDescription", "DeliveryDate", "Notes", "Project",
     "ProjectDescription", "CostCenter", "CostUnit", "StartTime", "EndTime", "Employee",
     "Pricelist", "CustomerItemCode", "Discount", "SalesOrder", "SalesOrderLine",
     "Subscription"}
)
"""Properties of a sync row that belong to its line, not to the invoice header."""

SPECIAL_LINE_NUMBERS = frozenset({0, 9999})
"""Total (0) and VAT (9999) pseudo-lines that may appear in Exact's sync data; dropped."""


def _invoice_id(row: Mapping[str, Any]) -> str:
    value = row.get("InvoiceID")
    if value is None:
        raise ValidationError("sync/SalesInvoice/SalesInvoices row without InvoiceID")
    return str(value).strip().lower()


def _num(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _stamp(row: Mapping[str, Any]) -> int:
    value = row.get("Timestamp")
    return -1 if value is None else int(value)


def _lines(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Real lines, one per line ID (the newest Timestamp wins), in LineNumber order."""
    latest: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        if row.get("LineNumber") in SPECIAL_LINE_NUMBERS or row.get("ID") is None:
            continue
        key = str(row["ID"]).lower()
        if key not in latest or _stamp(row) >= _stamp(latest[key]):
            latest[key] = row
    return sorted((dict(r) for r in latest.values()), key=lambda r: r.get("LineNumber") or 0)


def header_from_sync_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The invoice header carried by an invoice's sync rows.

    Header fields come from the newest row. On these rows ``AmountFC``/``VATAmountFC`` and
    ``Description`` are the *line's*, and only ``AmountFCExclVat`` is the header's. So the
    header ``VATAmountFC`` is the sum of the lines' VAT, ``AmountFC`` is ``AmountFCExclVat``
    plus that VAT, and ``Description`` is ``None`` (the header description is only on
    ``salesinvoice/SalesInvoices``). ``Created``/``Modified`` are the earliest/latest of the
    lines; ``Timestamp`` the highest. The sums are right only when ``rows`` hold all the
    invoice's current lines (see :class:`InvoiceRowBuffer`).
    """
    if not rows:
        raise ValueError("an invoice needs at least one sync row")
    newest = max(rows, key=_stamp)
    header = {k: v for k, v in newest.items() if k not in LINE_ONLY_FIELDS}
    lines = _lines(rows)
    vat = sum(_num(line.get("VATAmountFC")) for line in lines)
    excl = newest.get("AmountFCExclVat")
    net = _num(excl) if excl is not None else sum(_num(line.get("AmountFC")) for line in lines)
    header.update(VATAmountFC=round(vat, 2), AmountFC=round(net + vat, 2), Description=None)
    dated = [r for r in rows if r.get("Created") is not None]
    if dated:
        header["Created"] = min(dated, key=lambda r: parse_date(r["Created"]))["Created"]
    dated = [r for r in rows if r.get("Modified") is not None]
    if dated:
        header["Modified"] = max(dated, key=lambda r: parse_date(r["Modified"]))["Modified"]
    stamps = [r["Timestamp"] for r in rows if r.get("Timestamp") is not None]
    header["Timestamp"] = max(stamps, key=int) if stamps else None
    return header


def group_invoice_rows(
    rows: Iterable[Mapping[str, Any]],
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Sync rows → ``(header, lines)`` per InvoiceID, in order of first appearance.

    All rows of one InvoiceID within ``rows`` form one group, consecutive or not. Across pages
    use :class:`InvoiceRowBuffer`.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_invoice_id(row), []).append(row)
    for group in groups.values():
        yield header_from_sync_rows(group), _lines(group)


class InvoiceRowBuffer:
    """Carries an invoice whose lines may continue on the next sync page.

    The sync endpoint pages 1000 rows by ``Timestamp``, so an invoice's lines can straddle a
    page boundary. :meth:`add_page` returns every invoice of the page except the one of the
    page's last row, which it holds and merges with the next page; :meth:`flush` returns the
    held one after the last page.

    What this cannot fix: Exact sends a row per *changed* line, so an edit to one line brings
    one row, and lines saved at different times are far apart in Timestamp order. A group is
    therefore "the lines that changed", not always the invoice's full set. Where
    ``line_items`` must be complete, the tap re-reads the lines of each changed InvoiceID
    (``salesinvoice/SalesInvoiceLines?$filter=InvoiceID eq guid'…'`` or the bulk endpoint)
    and the header (``salesinvoice/SalesInvoices``) before calling :func:`invoice_to_unified`.
    """

    def __init__(self) -> None:
        self._held: list[Mapping[str, Any]] = []

    def add_page(
        self, rows: Iterable[Mapping[str, Any]]
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        pending = [*self._held, *rows]
        if not pending:
            return []
        last = _invoice_id(pending[-1])
        self._held = [r for r in pending if _invoice_id(r) == last]
        return list(group_invoice_rows(r for r in pending if _invoice_id(r) != last))

    def flush(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        held, self._held = self._held, []
        return list(group_invoice_rows(held))


# ---------------------------------------------------------------------------------------------
# Status, balance, paid_at
# ---------------------------------------------------------------------------------------------

EDITABLE_INVOICE_STATUSES = frozenset({10, 20})
PAID_TOLERANCE = 0.005


def invoice_status(
    exact_status: int | str | None,
    balance: float | None,
    due_at: str | datetime | None,
    now: datetime,
) -> str:
    """Exact Status 10 → draft, 20 → pending; 50 (processed) → paid when nothing is
    outstanding, overdue when the due date has passed, else pending.

    ``due_at`` is a calendar date (midnight): an invoice due today is not yet overdue.
    Unknown codes count as pending.
    """
    code = int(exact_status) if exact_status is not None else None
    if code == 10:
        return "draft"
    if code != 50:
        return "pending"
    if balance is not None and abs(balance) < PAID_TOLERANCE:
        return "paid"
    if due_at is not None:
        due = parse_rfc3339(due_at).astimezone(UTC).date()
        today = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC).date()
        if today > due:
            return "overdue"
    return "pending"


def invoice_balance(
    total_amount: float | None,
    receivables: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> tuple[float | None, str | None]:
    """``(balance, paid_at)`` of an invoice from its ``cashflow/Receivables`` rows.

    Assumptions (Exact documents the fields, not their arithmetic): an invoice has one
    receivable per open term, and Exact splits a receivable when part of it is paid (its
    ``EntryID`` doc: "a receivable can be split so that one part is received on a different
    date"). So a row with ``IsFullyPaid`` true contributes 0 and any other row its
    ``AmountFC`` (falling back to ``TransactionAmountFC``) as still outstanding. Amounts are
    taken as absolute values and given the sign of the invoice total, so a credit note's
    balance is negative like its total. ``paid_at`` is the latest ``LastPaymentDate`` once
    nothing is outstanding.

    No receivables (draft and open invoices have none yet) → ``(total_amount, None)``.
    """
    if receivables is None:
        rows: list[Mapping[str, Any]] = []
    elif isinstance(receivables, Mapping):
        rows = [receivables]
    else:
        rows = list(receivables)
    if not rows:
        return total_amount, None
    outstanding = 0.0
    for row in rows:
        if row.get("IsFullyPaid"):
            continue
        amount = row.get("AmountFC")
        outstanding += abs(_num(amount if amount is not None else row.get("TransactionAmountFC")))
    sign = -1.0 if total_amount is not None and total_amount < 0 else 1.0
    balance = round(sign * outstanding, 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    if abs(balance) >= PAID_TOLERANCE:
        return balance, None
    paid = [parse_date(r["LastPaymentDate"]) for r in rows if r.get("LastPaymentDate")]
    latest = max(paid, default=None)  # a date: Exact's wall clock kept, like exact_date
    return balance, READERS["exact_date"](latest) if latest else None


def group_receivables(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Receivable rows by the invoice they belong to: lowercase ``TransactionEntryID``.

    Assumes the processed invoice's sales entry carries the invoice's ``InvoiceID`` as its
    ``EntryID`` (as the sandbox models it); rows without it are left out.
    """
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        entry = row.get("TransactionEntryID")
        if entry:
            out.setdefault(str(entry).lower(), []).append(row)
    return out


RECEIVABLE_SELECT = ("ID", "TransactionEntryID", "InvoiceNumber", "Journal", "AmountFC",
                     "TransactionAmountFC", "IsFullyPaid", "LastPaymentDate", "Modified")
"""``$select`` for ``cashflow/Receivables`` with everything :func:`invoice_balance` reads."""


def invoice_to_unified(
    header: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    receivables: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    *,
    division: int,
    now: datetime,
    extra_fields: Iterable[FieldMap] = (),
    line_extra_fields: Iterable[FieldMap] = (),
) -> dict[str, Any]:
    """One invoice: a header (a ``salesinvoice/SalesInvoices`` row or
    :func:`header_from_sync_rows`), its line rows and its receivables → the unified record."""
    record = to_unified(ACCOUNTING_INVOICE, header, division=division, extra_fields=extra_fields)
    line_extra = tuple(line_extra_fields)
    record["line_items"] = [
        to_unified(ACCOUNTING_INVOICE_LINE_ITEM, line, division=division, extra_fields=line_extra)
        for line in sorted(lines, key=lambda r: r.get("LineNumber") or 0)
    ]
    balance, paid_at = invoice_balance(record["total_amount"], receivables)
    record["balance"] = balance
    record["paid_at"] = paid_at
    record["inclusive_of_tax"] = False
    record["status"] = invoice_status(header.get("Status"), balance, record["due_at"], now)
    return record


def invoice_to_exact(
    record: Mapping[str, Any],
    *,
    operation: str = "create",
    strict: bool = True,
    extra_fields: Iterable[FieldMap] = (),
) -> dict[str, Any]:
    """The POST body of a new invoice, lines nested as ``SalesInvoiceLines`` (customer as
    ``OrderedBy``, dates as ``YYYY-MM-DD``), or the partial PUT body of an update."""
    if operation not in ("create", "update"):
        raise ValidationError(f"accounting_invoice: cannot build a body for '{operation}'")
    return to_exact(
        ACCOUNTING_INVOICE,
        record,
        operation="create" if operation == "create" else "update",
        strict=strict,
        extra_fields=extra_fields,
    )


def check_invoice_editable(exact_status: int | str | None, operation: str) -> None:
    """Refuse update/delete of an invoice (or its lines) once Exact has processed it."""
    if exact_status is not None and int(exact_status) not in EDITABLE_INVOICE_STATUSES:
        raise ValidationError(
            f"accounting_invoice cannot be {operation}d: Exact status {exact_status} "
            "(processed) invoices cannot be changed; only draft (10) and open (20) can."
        )
