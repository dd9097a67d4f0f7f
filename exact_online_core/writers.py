"""Writes of unified records to Exact: refusals first, then POST/PUT/DELETE, then read back."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from exact_online_core import odata
from exact_online_core.errors import MalformedResponseError, ValidationError
from exact_online_core.http import ExactClient
from exact_online_core.invoices_reader import INVOICES, LINES, PROCESSED
from exact_online_core.mappings import (
    ACCOUNTING_INVOICE,
    ACCOUNTING_INVOICE_LINE_ITEM,
    CustomStream,
    FieldMap,
    Model,
    check_invoice_editable,
    invoice_to_exact,
    refuse_operation,
    to_exact,
)

_DIGITS = re.compile(r"^\d+$")

PRICES = "logistics/SalesItemPrices"
ROUTED: dict[str, tuple[str, str, str, str]] = {
    "accounting_invoice_item": ("StandardSalesPrice", PRICES, "Price", "Item"),
}
"""Properties Exact serves on a model's entity but takes only through another endpoint:
model → (property, endpoint, its property, its reference to the record). An item's
``StandardSalesPrice`` is read-only on logistics/Items (Exact's reference); it is the price of
the item's sales price that names no account."""


def key_literal(value: Any) -> odata.Literal:
    """A record key as an OData literal: GUID, integer, or string."""
    text = str(value).strip()
    if _DIGITS.match(text):
        return odata.integer(int(text))
    try:
        return odata.guid(text)
    except ValueError:
        return odata.string(text)


def entity_path(entity: str, model: Model | None, key: Any) -> str:
    """``crm/Accounts(guid'…')`` / ``system/Divisions(100001)``; a bad GUID is refused here."""
    if model is not None and model.key_read != "guid":
        text = str(key).strip()
        if not _DIGITS.match(text):
            raise ValidationError(f"{model.name}: id must be an integer code, got {text[:40]!r}")
        return f"{entity}({int(text)})"
    if model is not None:
        try:
            return f"{entity}({odata.guid(str(key))})"
        except ValueError:
            raise ValidationError(f"{model.name}: id must be a GUID, got {str(key)[:40]!r}") \
                from None
    return f"{entity}({key_literal(key)})"


class Writer:
    """create/update/delete for one client; ``processed`` caches invoices known processed."""

    def __init__(
        self,
        client: ExactClient,
        extra: Callable[[str], tuple[FieldMap, ...]],
        processed: set[tuple[int, str]],
    ) -> None:
        self.client = client
        self.extra = extra
        self.processed = processed

    # -- refusals --------------------------------------------------------------------------

    def invoice_status(self, division: int, invoice_id: str) -> int | None:
        key = (division, str(invoice_id).strip().lower())
        if key in self.processed:
            return PROCESSED
        path = entity_path(INVOICES, ACCOUNTING_INVOICE, invoice_id)
        row = odata.parse_single(
            self.client.get(path, division=division, params={"$select": "InvoiceID,Status"})
        )
        status = row.get("Status")
        if status == PROCESSED:
            self.processed.add(key)
        return None if status is None else int(status)

    def check_invoice(self, division: int, invoice_id: str, operation: str) -> None:
        check_invoice_editable(self.invoice_status(division, invoice_id), operation)

    def line_invoice(self, division: int, line_id: str) -> str:
        path = entity_path(LINES, ACCOUNTING_INVOICE_LINE_ITEM, line_id)
        row = odata.parse_single(
            self.client.get(path, division=division, params={"$select": "ID,InvoiceID"})
        )
        return str(row["InvoiceID"]).lower()

    # -- models ----------------------------------------------------------------------------

    def create(
        self, model: Model, division: int, record: Mapping[str, Any], strict: bool
    ) -> tuple[str, dict[str, Any] | None]:
        """POST; (new id, the returned representation)."""
        refuse_operation(model, "create")
        extra = self.extra(model.name)
        if model is ACCOUNTING_INVOICE:
            body = invoice_to_exact(record, operation="create", strict=strict, extra_fields=extra)
        else:
            if model is ACCOUNTING_INVOICE_LINE_ITEM:
                invoice_id = record.get("invoice_id")
                if not invoice_id:
                    raise ValidationError(
                        "accounting_invoice_line_item: 'invoice_id' required to create a record"
                    )
                self.check_invoice(division, str(invoice_id), "change")
            body = to_exact(model, record, operation="create", extra_fields=extra, strict=strict)
        routed = self.split_routed(model, body)
        row = self.client.post(model.entity, body, division=division)
        if row is None or row.get(model.key) is None:
            raise MalformedResponseError(
                f"POST {model.entity} answered without the new {model.key}",
                method="POST", endpoint=model.entity, division=division,
                hint="The record was probably created: look it up before sending it again.",
            )
        key = str(row[model.key]).lower()
        if routed is not None:
            self.write_routed(model, division, key, routed, created=True)
            row = {**row, ROUTED[model.name][0]: routed}
        return key, row

    def update(
        self, model: Model, division: int, key: str, record: Mapping[str, Any], strict: bool
    ) -> None:
        refuse_operation(model, "update")
        extra = self.extra(model.name)
        path = entity_path(model.entity, model, key)
        if model is ACCOUNTING_INVOICE:
            self.check_invoice(division, key, "update")
            lines = record.get("line_items")
            header = {k: v for k, v in record.items() if k != "line_items"}
            body = invoice_to_exact(header, operation="update", strict=strict, extra_fields=extra)
            if body:
                self.client.put(path, body, division=division)
            if lines is not None:
                self.sync_lines(division, key, lines, strict)
            return
        if model is ACCOUNTING_INVOICE_LINE_ITEM:
            self.check_invoice(division, self.line_invoice(division, key), "change")
        body = to_exact(model, record, operation="update", extra_fields=extra, strict=strict)
        routed = self.split_routed(model, body)
        if body:
            self.client.put(path, body, division=division)
        if routed is not None:
            self.write_routed(model, division, key, routed, created=False)

    @staticmethod
    def split_routed(model: Model, body: dict[str, Any]) -> Any:
        """Take the routed property out of ``body`` (None when it is not there)."""
        route = ROUTED.get(model.name)
        return body.pop(route[0], None) if route else None

    def write_routed(self, model: Model, division: int, key: str, value: Any, *,
                     created: bool) -> None:
        """Write a routed property: PUT the existing row (an item's sales price for no
        account), or POST one."""
        _, endpoint, prop, ref = ROUTED[model.name]
        existing: list[dict[str, Any]] = []
        if not created:
            flt = odata.and_(odata.eq(ref, odata.guid(key)), odata.eq("Account", odata.null()))
            existing = list(self.client.iter_rows(
                endpoint, division=division, params=odata.build_params(select="ID", filter=flt)))
        if existing:
            path = entity_path(endpoint, None, existing[0]["ID"])
            self.client.put(path, {prop: value}, division=division)
        else:
            self.client.post(endpoint, {ref: key, prop: value}, division=division,
                             representation=False)

    def delete(self, model: Model, division: int, key: str) -> None:
        refuse_operation(model, "delete")
        path = entity_path(model.entity, model, key)
        if model is ACCOUNTING_INVOICE:
            self.check_invoice(division, key, "delete")
        elif model is ACCOUNTING_INVOICE_LINE_ITEM:
            self.check_invoice(division, self.line_invoice(division, key), "change")
        self.client.delete(path, division=division)

    def sync_lines(self, division: int, invoice_id: str, items: Any, strict: bool) -> None:
        """Make the invoice's lines the given full set: PUT known ids, POST new, DELETE rest."""
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise ValidationError("accounting_invoice.line_items must be a list of objects")
        model = ACCOUNTING_INVOICE_LINE_ITEM
        flt = odata.eq("InvoiceID", odata.guid(invoice_id))
        current = {
            str(r["ID"]).lower()
            for r in self.client.iter_rows(
                LINES, division=division, params=odata.build_params(select="ID", filter=flt)
            )
        }
        extra = self.extra(model.name)
        kept: set[str] = set()
        for item in items:
            line = {k: v for k, v in item.items() if k != "invoice_id"}
            line_id = str(item.get("id") or "").lower()
            if line_id in current:
                kept.add(line_id)
                body = to_exact(model, line, operation="update", extra_fields=extra,
                                strict=strict)
                if body:
                    self.client.put(entity_path(LINES, model, line_id), body, division=division)
            else:
                body = to_exact(model, {**line, "invoice_id": invoice_id}, operation="create",
                                extra_fields=extra, strict=strict)
                self.client.post(LINES, body, division=division, representation=False)
        for line_id in sorted(current - kept):
            self.client.delete(entity_path(LINES, model, line_id), division=division)

    # -- custom streams --------------------------------------------------------------------

    def custom(self, stream: CustomStream, operation: str) -> str:
        if not stream.write_endpoint:
            raise ValidationError(
                f"custom stream '{stream.name}' cannot {operation}: it has no write_endpoint"
            )
        return stream.write_endpoint

    def custom_key(self, stream: CustomStream, record: Mapping[str, Any]) -> Any:
        if len(stream.primary_keys) != 1:
            raise ValidationError(
                f"custom stream '{stream.name}': writes need a single primary key"
            )
        return record.get(stream.primary_keys[0])
