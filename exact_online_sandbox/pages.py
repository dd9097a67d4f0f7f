"""Collection answers as JSON text straight from the stored rows: the sandbox's hot path.

A ``sync/`` page is 1,000 rows of up to 170 properties each, most of them null. Rendering each
row as a dict (:func:`responses.render_row`) and then ``json.dumps`` of the page spent most of
the sandbox's time; here each (entity, endpoint, ``$select``) is compiled once into the JSON
text of every property at its default value, and a row only replaces the text of the values it
stores. The bytes are exactly those of ``json.dumps(collection_body([render_row(…), …]),
separators=(",", ":"), ensure_ascii=False)``, the slow path that stays the definition (and
still renders ``$expand``, Atom, single rows and writes); ``tests/sandbox/test_pages.py``
holds the two equal on every endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from .entities import EntityDef, Mode
from .responses import collection_uri, format_value, key_literal
from .store import StoredRow

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_AS_IS = frozenset({"string", "guid"})
"""Types whose stored string is sent unchanged (``format_value`` returns it as it is)."""
_ABSENT = object()
PLAN_CACHE = 512
"""Compiled (entity, endpoint, ``$select``) plans kept; a client controls ``$select``."""


def value_json(value: Any) -> str:
    """A formatted value as ``json.dumps`` writes it (compact, non-ASCII kept)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    return _encode(value)


def _date(value: Any) -> str:
    return "null" if value is None else f'"/Date({int(value)})/"'


def _int64(value: Any) -> str:
    return "null" if value is None else f'"{int(value)}"'


def converter(ftype: str) -> Callable[[Any], str]:
    """A stored value of ``ftype`` → the JSON of ``format_value(ftype, value)``."""
    if ftype == "datetime":
        return _date
    if ftype == "int64":
        return _int64
    return lambda value: value_json(format_value(ftype, value))


@dataclass(frozen=True)
class Plan:
    """One endpoint's rows with one ``$select``, ready to fill in."""

    head: str                                # ',"type":"…"}' closing the __metadata
    defaults: tuple[str, ...]                # every output property at its default value
    slots: Mapping[str, tuple[int, Callable[[Any], str] | None, str]]
    """stored name → (index, its value's JSON, or None when a string is sent as it is,
    '"Name":')"""
    selected: tuple[tuple[str, int, Callable[[Any], str] | None, str], ...]
    """The slots as a tuple, walked instead of a row's values when it is the shorter"""
    navigations: tuple[tuple[int, str, str], ...]  # (index, '"Nav":{…"uri":', '/Nav"}}')
    key_names: tuple[str, ...]               # properties the row's URI is made of
    timestamp: bool                          # the stored ts column is the row's Timestamp
    ts_key: bool                             # the URI's key is that Timestamp: (123L)


_PLANS: dict[tuple[str, Mode, frozenset[str] | None], Plan] = {}


def plan_for(entity: EntityDef, mode: Mode, select: Sequence[str] | None) -> Plan:
    wanted = frozenset(select) if select and "*" not in select else None
    cache_key = (entity.name, mode, wanted)
    found = _PLANS.get(cache_key)
    if found is None:
        found = _compile(entity, mode, wanted)
        if len(_PLANS) >= PLAN_CACHE:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[cache_key] = found
    return found


def _compile(entity: EntityDef, mode: Mode, wanted: frozenset[str] | None) -> Plan:
    view = entity.view(mode)
    template = entity.template
    defaults: list[str] = []
    slots: dict[str, tuple[int, Callable[[Any], str] | None, str]] = {}
    for name, ftype in view.fields.items():
        if wanted is None or name in wanted:
            prefix = encode_basestring(name) + ":"
            slots[name] = (len(defaults), None if ftype in _AS_IS else converter(ftype), prefix)
            defaults.append(prefix + value_json(format_value(ftype, template.get(name))))
    navigations: list[tuple[int, str, str]] = []
    for nav in view.navigations:
        if wanted is None or nav in wanted:
            opening = encode_basestring(nav) + ':{"__deferred":{"uri":'
            navigations.append((len(defaults), opening, encode_basestring(f"/{nav}")[1:] + "}}"))
            defaults.append("")
    ts_key = mode == "sync" or entity.key == "Timestamp"
    if ts_key:
        key_names: tuple[str, ...] = ("Timestamp",)
    elif entity.key_type == "compound":
        key_names = entity.keys
    else:
        key_names = (entity.key,)
    timestamp = "Timestamp" in entity.fields
    return Plan(head=',"type":' + encode_basestring(entity.type_for(mode)) + "}",
                defaults=tuple(defaults), slots=slots,
                selected=tuple((name, *slot) for name, slot in slots.items()),
                navigations=tuple(navigations),
                key_names=key_names, timestamp=timestamp, ts_key=ts_key and timestamp)


def rows_json(entity: EntityDef, mode: Mode, stored: Sequence[StoredRow], *, base_url: str,
              division: int, select: Sequence[str] | None = None) -> list[bytes]:
    """Each stored row as the JSON of ``render_row`` (no ``$expand``), UTF-8 encoded."""
    plan = plan_for(entity, mode, select)
    if not stored:
        return []
    loaded: list[dict[str, Any]] = json.loads("[" + ",".join(s[2] for s in stored) + "]")
    template = entity.template
    slots, head, navigations, defaults = plan.slots, plan.head, plan.navigations, plan.defaults
    selected = plan.selected
    timestamp, ts_key, key_names = plan.timestamp, plan.ts_key, plan.key_names
    # '"…/api/v1/100001/crm/Accounts(' : every row's URI (as JSON) starts alike
    opening = encode_basestring(collection_uri(entity, mode, base_url, division) + "(")[:-1]
    enc, as_json = encode_basestring, value_json
    out: list[bytes] = []
    for values, row in zip(loaded, stored, strict=True):
        if timestamp:
            values["Timestamp"] = row[1]
        parts = list(defaults)
        if len(selected) < len(values):  # a $select: look its few properties up
            for name, index, convert, prefix in selected:
                value = values.get(name, _ABSENT)
                if value is _ABSENT:
                    continue
                if convert is not None:
                    parts[index] = prefix + convert(value)
                elif type(value) is str:
                    parts[index] = prefix + enc(value)
                else:
                    parts[index] = prefix + as_json(value)
        else:
            for name, value in values.items():
                slot = slots.get(name)
                if slot is None:
                    continue
                index, convert, prefix = slot
                if convert is not None:
                    parts[index] = prefix + convert(value)
                elif type(value) is str:
                    parts[index] = prefix + enc(value)
                else:
                    parts[index] = prefix + as_json(value)
        if ts_key:
            uri = f'{opening}{row[1]}L)"'
        else:
            key_row = values if all(k in values for k in key_names) else {**template, **values}
            uri = opening + enc(key_literal(entity, mode, key_row) + ")")[1:]
        for index, nav_opening, closing in navigations:
            parts[index] = nav_opening + uri[:-1] + closing
        out.append(('{"__metadata":{"uri":' + uri + head + ("," + ",".join(parts) if parts else "")
                    + "}").encode())
    return out


def collection_json(rows: Sequence[bytes], next_url: str | None, total: int | None = None, *,
                    bare: bool = False) -> bytes:
    """``collection_body`` as JSON around rows already rendered by :func:`rows_json`."""
    return page_json(b",".join(rows), next_url, total, bare=bare)


def page_json(body: bytes, next_url: str | None, total: int | None = None, *,
              bare: bool = False) -> bytes:
    """``collection_body`` as JSON around rows already rendered and joined by commas."""
    if bare and next_url is None and total is None:
        return b'{"d":[' + body + b"]}"
    count = '"__count":' + encode_basestring(str(total)) + "," if total is not None else ""
    more = ',"__next":' + encode_basestring(next_url) if next_url is not None else ""
    return b"".join((('{"d":{' + count + '"results":[').encode(), body,
                     ("]" + more + "}}").encode()))
