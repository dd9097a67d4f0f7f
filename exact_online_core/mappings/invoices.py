"""Sales invoice rules that are logic, not table data: the unified invoice, status, balance.

:func:`invoice_to_unified` builds the unified invoice from its header row, its line rows
and its receivables (status, balance and ``paid_at`` come from the receivables, see
:func:`invoice_balance`); :mod:`exact_online_core.invoices_reader` finds those rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
# Status, balance, paid_at
# ---------------------------------------------------------------------------------------------


def _num(value: Any) -> float:
    return 0.0 if value is None else float(value)


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
    """One invoice: a header (a ``salesinvoice/SalesInvoices`` row or the invoice's header
    row of ``sync/SalesInvoice/SalesInvoices``, LineNumber 0), its line rows and its
    receivables → the unified record."""
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
