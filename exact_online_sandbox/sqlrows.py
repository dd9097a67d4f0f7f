"""Rows with a short ``$select`` rendered to their JSON text by SQLite: a sync page's hot path.

A sync read (``sync/CRM/Accounts?$select=ID,Timestamp,…``, what the connector asks) wants a
few properties of each of 1,000 rows. :func:`pages.rows_json` parses every stored row into a
dict to fill them in; here the page's ``SELECT`` builds each row's JSON text itself, in C:
``data -> '$."Name"'`` is the stored JSON text of a value (written by Python's encoder, so the
bytes :func:`pages.value_json` would write), and the few Edm formats that differ from the stored
value (``/Date(ms)/``, Int64 as a string, an integral double as an integer, a Boolean in an
Int field, a non-Boolean in a Boolean field) are SQL expressions. The answer's bytes are those
of :func:`pages.rows_json` and so of ``responses.render_row``; ``tests/sandbox/test_sqlrows.py``
holds them equal on every sync endpoint, with and without ``$select``.

Only for endpoints whose rows' URI key is their Timestamp (sync endpoints), and only when the
selection is short: each property costs SQLite a JSON lookup, so a row of 164 properties is
cheaper in Python (:data:`MAX_PROPERTIES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring

from .backend import columns
from .entities import EntityDef, Mode
from .pages import plan_for

MAX_PROPERTIES = 24
"""Above this many properties a row, :func:`pages.rows_json` (one parse of the row) is the
cheaper renderer."""
MAX_ARGUMENTS = 100
"""SQLite's limit on a function's arguments (``SQLITE_MAX_FUNCTION_ARG``), printf's too."""
SQL_CACHE = 512
"""Compiled (entity, endpoint, ``$select``) expressions kept; a client controls ``$select``."""


@dataclass(frozen=True)
class RowSql:
    """An SQL expression over ``rows`` (``ts``, ``key``, ``data``) giving a row's JSON text;
    each of its ``uses`` parameters is the row URI's opening (:func:`uri_opening`). The page
    query joins a page's texts in SQLite (:meth:`backend.Backend.page`) and takes them as one
    BLOB: the UTF-8 bytes the answer is made of."""

    sql: str
    uses: int

    def params(self, opening: str) -> list[str]:
        return [opening] * self.uses


_CACHE: dict[tuple[str, Mode, frozenset[str] | None], RowSql | None] = {}


def row_sql(entity: EntityDef, mode: Mode, select: Sequence[str] | None) -> RowSql | None:
    """The expression rendering this endpoint's rows with this ``$select``; None where the
    Python renderer is used (the URI's key is not the Timestamp, or too many properties)."""
    wanted = frozenset(select) if select and "*" not in select else None
    cache_key = (entity.name, mode, wanted)
    if cache_key not in _CACHE:
        if len(_CACHE) >= SQL_CACHE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[cache_key] = _compile(entity, mode, select)
    return _CACHE[cache_key]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(name: str, ftype: str, default: str, timestamp: bool, key: str | None) -> str:
    """SQL for the JSON text of one property, as :func:`pages.rows_json` writes it: the
    stored value formatted, the entity's default when the row does not store it. ``key``:
    the property the ``key`` column holds (the row's ``row_key``, as stored)."""
    path = _literal(f'$."{name}"')
    raw, value = f"(data -> {path})", f"json_extract(data, {path})"
    kind = f"json_type(data, {path})"
    fallback = _literal(default)
    if name == key and ftype in ("string", "guid"):
        # the key column holds the value the row was stored with (a GUID's text: no JSON
        # lookup); json_quote escapes as Python's JSON does; NULL (no value) is null
        return f"CASE typeof(key) WHEN 'text' THEN json_quote(key) WHEN 'null' THEN " \
               f"'null' ELSE coalesce({raw}, {fallback}) END"
    if name == "Timestamp" and timestamp:  # the ts column is the row's Timestamp
        if ftype == "int64":
            return "'\"' || ts || '\"'"
        if ftype == "datetime":
            return "'\"/Date(' || ts || ')/\"'"
        return "ts"
    if ftype == "unknown":
        return "'null'"
    if ftype in ("datetime", "int64"):
        text = (f"'\"/Date(' || CAST({value} AS INTEGER) || ')/\"'" if ftype == "datetime"
                else f"'\"' || CAST({value} AS INTEGER) || '\"'")
        if default == "null":  # absent, or stored as null: null
            return f"coalesce({text}, 'null')"
        return f"CASE {kind} WHEN 'null' THEN 'null' ELSE coalesce({text}, {fallback}) END"
    if ftype == "int":
        return (f"coalesce(CASE {kind} WHEN 'true' THEN '1' WHEN 'false' THEN '0' "
                f"ELSE {raw} END, {fallback})")
    if ftype == "bool":
        truth = "THEN 'true' ELSE 'false' END"
        return (f"coalesce(CASE {kind} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
                f"WHEN 'null' THEN 'null' "
                f"WHEN 'integer' THEN CASE WHEN {value} <> 0 {truth} "
                f"WHEN 'real' THEN CASE WHEN {value} <> 0 {truth} "
                f"WHEN 'text' THEN CASE WHEN length({value}) > 0 {truth} "
                f"WHEN 'array' THEN CASE WHEN json_array_length(data, {path}) > 0 {truth} "
                f"WHEN 'object' THEN CASE WHEN {raw} <> '{{}}' {truth} "
                f"END, {fallback})")
    if ftype == "decimal":  # an integral double below 1e15 as an integer
        integral = f"{value} = CAST({value} AS INTEGER) AND abs({value}) < 1e15"
        return (f"coalesce(CASE {kind} WHEN 'real' THEN CASE WHEN {integral} "
                f"THEN CAST(CAST({value} AS INTEGER) AS TEXT) ELSE {raw} END "
                f"ELSE {raw} END, {fallback})")
    return f"coalesce({raw}, {fallback})"  # sent as stored (strings, GUIDs, binary)


def _compile(entity: EntityDef, mode: Mode, select: Sequence[str] | None) -> RowSql | None:
    plan = plan_for(entity, mode, select)
    if not plan.ts_key or len(plan.defaults) > MAX_PROPERTIES:
        return None
    view = entity.view(mode)
    key = entity.key if columns(entity).get(entity.key) == "key" else None
    # one printf: the constant text in its format, each value an argument (one string built,
    # not one per ||)
    text = ['{"__metadata":{"uri":%s%sL)"', plan.head.replace("%", "%%")]
    args = ["?", "ts"]
    for name, (index, _convert, prefix) in plan.slots.items():
        default = plan.defaults[index][len(prefix):]
        text.append("," + prefix.replace("%", "%%") + "%s")
        args.append(_value(name, view.fields[name], default, plan.timestamp, key))
    for _index, nav_opening, closing in plan.navigations:
        # ,"Nav":{"__deferred":{"uri":  "…/Accounts(  ts  L)/Nav"}}
        text.append("," + nav_opening.replace("%", "%%") + "%s%sL)" + closing.replace("%", "%%"))
        args += ["?", "ts"]
    text.append("}")
    if len(args) >= MAX_ARGUMENTS:
        return None
    return RowSql(f"printf({_literal(''.join(text))}, {', '.join(args)})", args.count("?"))


def uri_opening(collection_uri: str) -> str:
    """The JSON text every row's URI starts with: ``"http://…/sync/CRM/Accounts(``."""
    return encode_basestring(collection_uri + "(")[:-1]
