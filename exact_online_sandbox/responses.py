"""Exact's OData v2 JSON shapes: ``d``/``results`` envelopes, ``__metadata``, values, nav props.

Values as the recordings show them: ``/Date(ms)/`` dates, lowercase GUIDs, Edm.Int64 as a JSON
string (``"Hid": "1"``, ``"Legislation": "128"``; so ``Timestamp`` too), integral doubles as
JSON integers, padded codes kept. Collections are ``{"__deferred": {"uri": …}}`` unless
``$expand``ed; an expanded collection is paged at 60 with its own ``__next``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .entities import EntityDef, Mode, Resolved, nav_entity

EXPAND_PAGE = 60
"""Rows of an expanded collection per answer; more continue at the nested ``__next``."""


def format_value(ftype: str, value: Any) -> Any:
    """Canonical value → Exact JSON value."""
    if value is None or ftype == "unknown":
        return None
    if ftype == "datetime":
        return f"/Date({int(value)})/"
    if ftype == "int64":
        return str(int(value))
    if ftype == "int" and isinstance(value, bool):  # one property, Boolean in one family
        return int(value)                          # and Byte in another (ProjectWBS)
    if ftype == "bool" and not isinstance(value, bool):
        return bool(value)
    if ftype == "decimal" and isinstance(value, float) and value.is_integer() \
            and abs(value) < 1e15:
        return int(value)
    return value


def literal(ftype: str, value: Any) -> str:
    """A value as an OData URI literal: ``guid'…'``, ``'text'``, ``123``, ``123L``."""
    if ftype == "guid":
        return f"guid'{value}'"
    if ftype == "string":
        return "'" + str(value).replace("'", "''") + "'"
    if ftype == "int64":
        return f"{value}L"
    return str(value)


def key_literal(entity: EntityDef, mode: Mode, row: Mapping[str, Any]) -> str:
    """The key as it appears in a URI: ``guid'…'``, ``123``, ``123L`` (Timestamp keys),
    ``'EUR'``, or ``Division=1,GLAccount=guid'…',ReportingYear=2026`` (compound keys)."""
    if mode == "sync" or entity.key == "Timestamp":
        return f"{row.get('Timestamp')}L"
    if entity.key_type == "compound":
        return ",".join(f"{k}={literal(entity.fields.get(k, 'int'), row.get(k))}"
                         for k in entity.keys)
    ftype = entity.fields.get(entity.key, "guid" if entity.key_type == "guid" else "int")
    return literal(ftype, row.get(entity.key))


def collection_uri(entity: EntityDef, mode: Mode, base_url: str, division: int) -> str:
    """The endpoint's URI, as a row's URI starts: ``…/api/v1/{division}/crm/Accounts``."""
    path = entity.path_for(mode)
    prefix = f"{base_url.rstrip('/')}/api/v1"
    if path.startswith("beta/"):  # beta/{division}/…: the division is inside the path
        return f"{prefix}/{path.replace('{division}', str(division))}"
    return f"{prefix}/{division}/{path}"


def entity_uri(
    entity: EntityDef, mode: Mode, row: Mapping[str, Any], base_url: str, division: int
) -> str:
    return f"{collection_uri(entity, mode, base_url, division)}({key_literal(entity, mode, row)})"


def render_target(r: Resolved) -> tuple[EntityDef, Mode]:
    """The entity and endpoint family whose properties a request's rows show."""
    return _target(r, None)


def _target(r_or_entity: Resolved | EntityDef, mode: Mode | None) -> tuple[EntityDef, Mode]:
    if isinstance(r_or_entity, Resolved):
        entity, found = r_or_entity.entity, r_or_entity.mode
        if r_or_entity.navigation:
            target = nav_entity(entity, r_or_entity.navigation)
            if target is not None:
                return target, "plain" if "plain" in target.views else found
        return entity, found
    if mode is not None:
        return r_or_entity, mode
    return r_or_entity, "plain" if "plain" in r_or_entity.views else next(iter(r_or_entity.views))


def render_row(
    r_or_entity: Resolved | EntityDef,
    row: Mapping[str, Any],
    *,
    base_url: str,
    division: int,
    select: Sequence[str] | None = None,
    expand: Sequence[str] = (),
    mode: Mode | None = None,
) -> dict[str, Any]:
    """One row as Exact sends it: ``__metadata`` first, then the (selected) properties."""
    entity, mode = _target(r_or_entity, mode)
    view = entity.view(mode)
    uri = entity_uri(entity, mode, row, base_url, division)
    out: dict[str, Any] = {"__metadata": {"uri": uri, "type": entity.type_for(mode)}}
    wanted = set(select) if select and "*" not in select else None
    for name, ftype in view.fields.items():
        if wanted is None or name in wanted:
            out[name] = format_value(ftype, row.get(name))
    for nav in view.navigations:
        if wanted is not None and nav not in wanted:
            continue
        value = row.get(nav)
        target = nav_entity(entity, nav)
        if nav in expand and isinstance(value, list) and target is not None:
            children = value[:EXPAND_PAGE]
            rendered: dict[str, Any] = {"results": [
                render_row(target, child, base_url=base_url, division=division)
                for child in children]}
            if len(value) > EXPAND_PAGE:
                last = key_literal(target, "plain", children[-1])
                if "LineNumber" in target.fields:  # lines page in line order
                    last = f"{children[-1].get('LineNumber') or 0},{last}"
                rendered["__next"] = f"{uri}/{nav}?$skiptoken={last}"
            out[nav] = rendered
        else:
            out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
    return out


def collection_body(
    rows: list[dict[str, Any]], next_url: str | None, total: int | None = None,
    *, bare: bool = False,
) -> dict[str, Any]:
    """``{"d": {"results": [...], "__next": url}}`` (``__next`` only when more rows exist), or
    the bare ``{"d": [...]}`` Exact sends for some ``$top`` requests (see ``bare_array``)."""
    if bare and next_url is None and total is None:
        return {"d": rows}
    d: dict[str, Any] = {}
    if total is not None:
        d["__count"] = str(total)
    d["results"] = rows
    if next_url is not None:
        d["__next"] = next_url
    return {"d": d}


def bare_array(mode: Mode, top: int | None, has_skip: bool, page_size: int,
               has_skiptoken: bool = False) -> bool:
    """Whether Exact answers a collection as a bare ``{"d": [...]}``.

    The recordings: ``$top`` 50 or 60 without ``$skip`` (list-contacts, list-payments,
    list-sales-orders) and ``$top=50&$skip=0`` (list-items, list-vat-codes) gave a bare array;
    ``$top=60&$skip=0`` (sales-invoices), ``$top`` 100 and 1000, no ``$top``, and the next pages
    (``$top=40&$skiptoken=…``: gl-accounts, transaction-lines) gave ``d.results``. So: plain
    endpoints, a first page whose ``$top`` is below the page size, or equal to it without
    ``$skip`` (an answer that never needs a ``__next``).
    """
    if mode != "plain" or top is None or has_skiptoken:
        return False
    return top < page_size or (top == page_size and not has_skip)


def single_body(row: dict[str, Any]) -> dict[str, Any]:
    return {"d": row}


def me_body(row: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """``current/Me`` is a one-row collection with its own ``__metadata``."""
    uri = f"{base_url.rstrip('/')}/api/v1/current/Me(guid'{row.get('UserID')}')"
    meta = {"uri": uri, "type": "Exact.Web.Api.Models.System.Me"}
    rendered: dict[str, Any] = {"__metadata": meta}
    rendered.update({k: v for k, v in row.items() if k != "__metadata"})
    return {"d": {"results": [rendered]}}
