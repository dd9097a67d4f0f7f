"""Exact's OData v2 JSON shapes: ``d``/``results`` envelopes, ``__metadata``, dates, nav props."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .entities import EntityDef, Mode, Resolved, nav_entity


def format_value(ftype: str, value: Any) -> Any:
    """Canonical value → Exact JSON value (``/Date(ms)/``, integral decimals as integers)."""
    if value is None:
        return None
    if ftype == "datetime":
        return f"/Date({int(value)})/"
    if ftype == "decimal" and isinstance(value, float) and value.is_integer() \
            and abs(value) < 1e15:
        return int(value)
    return value


def key_literal(entity: EntityDef, mode: Mode, row: Mapping[str, Any]) -> str:
    """The key as it appears in a URI: ``guid'…'``, ``123`` or ``123L`` (Timestamp keys)."""
    if mode == "sync" or entity.key == "Timestamp":
        return f"{row.get('Timestamp')}L"
    value = row.get(entity.key)
    if entity.key_type == "guid":
        return f"guid'{value}'"
    return f"{value}L" if entity.fields.get(entity.key) == "int64" else str(value)


def entity_uri(
    entity: EntityDef, mode: Mode, row: Mapping[str, Any], base_url: str, division: int
) -> str:
    path = entity.path_for(mode)
    return f"{base_url.rstrip('/')}/api/v1/{division}/{path}({key_literal(entity, mode, row)})"


def render_row(
    r_or_entity: Resolved | EntityDef,
    row: Mapping[str, Any],
    *,
    base_url: str,
    division: int,
    select: Sequence[str] | None = None,
    expand: Sequence[str] = (),
) -> dict[str, Any]:
    """One row as Exact sends it: ``__metadata`` first, then the (selected) fields in order."""
    if isinstance(r_or_entity, Resolved):
        entity, mode = r_or_entity.entity, r_or_entity.mode
        if r_or_entity.navigation:
            target = nav_entity(entity, r_or_entity.navigation)
            if target is not None:
                entity, mode = target, "plain"
    else:
        entity, mode = r_or_entity, "plain"
    uri = entity_uri(entity, mode, row, base_url, division)
    out: dict[str, Any] = {"__metadata": {"uri": uri, "type": entity.type_name}}
    wanted = set(select) if select and "*" not in select else None
    for name, ftype in entity.visible_fields(mode).items():
        if wanted is None or name in wanted:
            out[name] = format_value(ftype, row.get(name))
    if mode == "plain":
        for nav in entity.navigations:
            if wanted is not None and nav not in wanted:
                continue
            value = row.get(nav)
            target = nav_entity(entity, nav)
            if nav in expand and isinstance(value, list) and target is not None:
                out[nav] = {"results": [
                    render_row(target, child, base_url=base_url, division=division)
                    for child in value
                ]}
            else:
                out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
    return out


def collection_body(
    rows: list[dict[str, Any]], next_url: str | None, total: int | None = None
) -> dict[str, Any]:
    """``{"d": {"results": [...], "__next": url}}``; ``__next`` only when more rows exist."""
    d: dict[str, Any] = {}
    if total is not None:
        d["__count"] = str(total)
    d["results"] = rows
    if next_url is not None:
        d["__next"] = next_url
    return {"d": d}


def single_body(row: dict[str, Any]) -> dict[str, Any]:
    return {"d": row}


def me_body(row: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """``current/Me`` is a one-row collection with its own ``__metadata``."""
    uri = f"{base_url.rstrip('/')}/api/v1/current/Me(guid'{row.get('UserID')}')"
    meta = {"uri": uri, "type": "Exact.Web.Api.Models.System.Me"}
    rendered: dict[str, Any] = {"__metadata": meta}
    rendered.update({k: v for k, v in row.items() if k != "__metadata"})
    return {"d": {"results": [rendered]}}
