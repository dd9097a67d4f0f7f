"""``sync/PurchaseOrder/PurchaseOrders``: one row per order line, the order's fields on each.

Exact's reference gives this sync endpoint the order's properties and its lines' (``ID``,
``LineNumber``, ``Item``, ``Quantity``, …), keyed by Timestamp. The rows are kept here from
``purchaseorder/PurchaseOrders`` and ``purchaseorder/PurchaseOrderLines``: a write to either
gives the order's rows new Timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .entities import ENTITIES

if TYPE_CHECKING:
    from .backend import Backend

ORDERS, LINES, SYNC = "purchaseorder/PurchaseOrders", "purchaseorder/PurchaseOrderLines", \
    "SyncPurchaseOrders"
_LINE_OWN = ("AmountDC", "AmountFC", "Description", "Discount", "VATAmount", "Created",
             "Creator", "CreatorFullName", "Modified", "Modifier", "ModifierFullName")


def order_rows(header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]
               ) -> list[dict[str, Any]]:
    """The sync rows of one purchase order (none for an order without lines)."""
    sync, order, line_fields = ENTITIES[SYNC].fields, ENTITIES[ORDERS].fields, \
        ENTITIES[LINES].fields
    out = []
    for line in lines:
        row = {name: header.get(name) for name in sync if name in order}
        for name in sync:
            if (name in line_fields and name not in order) or (name in _LINE_OWN
                                                                 and name in line):
                row[name] = line.get(name)
        row["PurchaseOrderID"] = header.get("PurchaseOrderID")
        out.append(row)
    return out


def refresh(b: Backend, division: int, order_id: str) -> None:
    """Rewrite an order's sync rows after a write to the order or one of its lines."""
    sync = ENTITIES[SYNC]
    b.store.delete_children(sync.store_name, division, order_id)
    header = b.find(ENTITIES[ORDERS], division, order_id)
    if header is None:
        return
    lines = b.linked(ENTITIES[LINES], division, "PurchaseOrderID", [order_id])
    lines.sort(key=lambda ln: ln.get("LineNumber") or 0)
    for row in order_rows(header, lines):
        b.save(sync, division, row)


def order_of(entity_name: str, row: Mapping[str, Any]) -> str | None:
    """The purchase order a written row belongs to (None: not a purchase order's row)."""
    if entity_name in (ORDERS, LINES):
        value = row.get("PurchaseOrderID")
        return str(value) if value else None
    return None
