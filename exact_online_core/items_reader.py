"""Catalog items: ``sync/Logistics/Items`` pages with the price Exact serves elsewhere.

Exact's sync endpoint for items has no ``StandardSalesPrice``; ``logistics/Items`` and
``bulk/Logistics/Items`` have it. So each sync page's items get their price from
``bulk/Logistics/Items``: looked up by ID (many ids a call) when the page holds few items,
or, from the first page that would need more than :data:`LOOKUP_CALLS` look-ups (a first
sync), read once for every item (1000 a page, kept in memory, or in a temporary file for a
large catalog: :class:`~exact_online_core.spill.ValueSpill`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from exact_online_core import odata
from exact_online_core.mappings import ACCOUNTING_INVOICE_ITEM, TIMESTAMP_PROPERTY
from exact_online_core.readers import (
    ReadContext,
    RecordPage,
    key_batches,
    timestamp_filter,
    timestamp_since,
    trim,
)
from exact_online_core.spill import ValueSpill

PRICE = "StandardSalesPrice"
BULK_ITEMS = "bulk/Logistics/Items"
LOOKUP_CALLS = 2
"""A page whose prices take more look-up calls than this loads every item's price once."""


def _key(value: Any) -> str:
    return str(value).strip().lower()


class ItemPrices:
    """``StandardSalesPrice`` by item ID, from ``bulk/Logistics/Items``."""

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self._all: ValueSpill | None = None

    def of(self, ids: Sequence[str]) -> dict[str, Any]:
        keys = [_key(i) for i in ids]
        if self._all is None:
            filters = list(key_batches("ID", keys))
            if len(filters) <= LOOKUP_CALLS:
                return self._read(filters)
            self._all = ValueSpill()
            for page in self.ctx.pages(BULK_ITEMS, odata.build_params(select=["ID", PRICE])):
                self._all.add((_key(r["ID"]), r.get(PRICE)) for r in page.rows)
        return self._all.get(keys)

    def _read(self, filters: Sequence[odata.Expr]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for flt in filters:
            params = odata.build_params(select=["ID", PRICE], filter=flt)
            for page in self.ctx.pages(BULK_ITEMS, params):
                out.update((_key(r["ID"]), r.get(PRICE)) for r in page.rows)
        return out

    def close(self) -> None:
        if self._all is not None:
            self._all.close()
            self._all = None


def read_items(
    ctx: ReadContext,
    since: int | str | None,
    select: list[str],
    properties: Collection[str] | None,
) -> Iterator[RecordPage]:
    """``accounting_invoice_item`` from ``sync/Logistics/Items``, one RecordPage a page, each
    item with its standard sales price (when ``price`` is wanted)."""
    model = ACCOUNTING_INVOICE_ITEM
    prices = ItemPrices(ctx) if properties is None or "price" in properties else None
    bookmark = timestamp_since(since)
    params = odata.build_params(select=select, filter=timestamp_filter(bookmark))
    try:
        read = None  # the row reader, made at the first row (as ctx.unify would)
        for page in ctx.pages(model.read_path, params):
            found = prices.of([str(r["ID"]) for r in page.rows]) if prices else {}
            records = []
            for row in page.rows:
                if prices is not None:
                    row[PRICE] = found.get(_key(row["ID"]))  # the page's own row, read once
                if read is None:
                    read = ctx.reader(model)
                record = read(row)
                bookmark = max(bookmark, record[TIMESTAMP_PROPERTY] or 0)
                records.append(trim(record, properties, (TIMESTAMP_PROPERTY,)))
            yield RecordPage(records, bookmark, {})
    finally:
        if prices is not None:
            prices.close()
