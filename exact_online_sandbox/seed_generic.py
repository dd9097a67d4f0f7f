"""Seed rows for the generic stores: every endpoint answers with rows of its Edm types.

The entities without behaviour of their own get ``size["generic"]`` rows (default 1) per
reachable division, every property a value of its type (strings ``"<Property> <n>"``, dates at
midnight, GUIDs from the seed). A nested set (``crm/BankAccounts`` of an account, the
``QuotationLines`` of a quotation) points at rows of its parent.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .entities import ENTITIES, EntityDef, row_key
from .schema import AUDIT

DAY_MS = 86_400_000


def _value(name: str, ftype: str, n: int, anchor: int, guid: Callable[[], str]) -> Any:
    if ftype == "guid":
        return guid()
    if ftype == "string":
        return f"{name} {n}"
    if ftype == "int":
        return n
    if ftype == "int64":
        return 1000 + n
    if ftype == "decimal":
        return round(n * 12.5, 2)
    if ftype == "bool":
        return n % 2 == 0
    if ftype == "datetime":
        return anchor - n * DAY_MS
    return None  # binary, unknown


def generic_rows(
    entities: Iterable[EntityDef], rng: random.Random, division: int, count: int, anchor: int,
    audit: Mapping[str, Any], parents: Mapping[str, list[Any]],
) -> list[tuple[EntityDef, dict[str, Any]]]:
    """``count`` rows for each entity, in the order given (parents before their children:
    ``parents`` collects each entity's keys for the children that point at it)."""

    def guid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    out: list[tuple[EntityDef, dict[str, Any]]] = []
    collected: dict[str, list[Any]] = {k: list(v) for k, v in parents.items()}
    links = {child: (parent.name, link)
             for parent in ENTITIES.values()
             for child, link in parent.navigation_targets.values()}
    for entity in entities:
        for n in range(1, count + 1):
            row: dict[str, Any] = {}
            for name, ftype in entity.fields.items():
                row[name] = _value(name, ftype, n, anchor, guid)
            if "Timestamp" in row:
                row["Timestamp"] = None
            if "Division" in row:
                row["Division"] = division
            row.update({k: v for k, v in audit.items() if k in row})
            link = links.get(entity.name)
            if link is not None and collected.get(link[0]):
                keys = collected[link[0]]
                row[link[1]] = keys[(n - 1) % len(keys)]
            collected.setdefault(entity.name, []).append(row_key(entity, row))
            out.append((entity, row))
    return out


def created_audit(user: str, name: str, created: int) -> dict[str, Any]:
    return dict(zip(AUDIT, (created, user, name, created, user, name), strict=True))
