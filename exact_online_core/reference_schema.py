"""Typed streams from Exact's API reference: schema, key, replication and write checks per endpoint.

A custom stream (``{"name": "projects", "endpoint": "sync/Project/Projects"}``) and every
stream of the built-in pack take their shape from :mod:`exact_online_reference`: each Edm type
becomes a JSON Schema type (:data:`EDM_JSON`), the key is the reference's key property, the
replication follows the endpoint family (``sync/`` → ``Timestamp``; plain and ``bulk/`` →
``Modified`` where the entity has it; else the full table). Names come from one rule
(:func:`snake_case`) where a stream asks for it. Nothing here is per entity except
:data:`SYNC_KEYS`, Exact's facts about the two header endpoints whose ``ID`` is not the row key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from exact_online_core.errors import ConfigError, ValidationError
from exact_online_reference import Endpoint, Property, reference

EDM_JSON: Mapping[str, dict[str, Any]] = {
    "Guid": {"type": "string", "format": "uuid"},
    "UTF8String": {"type": "string"},
    "UTF8CodeString": {"type": "string"},
    "Binary": {"type": "string"},
    "DateTime": {"type": "string", "format": "date-time"},
    "Boolean": {"type": "boolean"},
    "Byte": {"type": "integer"},
    "Int16": {"type": "integer"},
    "Int32": {"type": "integer"},
    "Int64": {"type": "integer"},
    "Double": {"type": "number"},
    "Decimal": {"type": "number"},
}
"""Exact's Edm type → the JSON Schema of its values (nullable is added per property)."""

ANY_JSON: dict[str, Any] = {
    "type": ["string", "number", "integer", "boolean", "object", "array", "null"]
}
"""A property the reference gives no type for (``system/Divisions`` ``Class_01``..)."""

SYNC_KEYS: Mapping[str, str] = {
    "sync/CRM/QuotationHeaders": "QuotationID",
    "sync/SalesOrder/SalesOrderHeaders": "OrderID",
}
"""Sync endpoints whose rows are keyed by another property than ``ID`` (the header's own key;
its deletions in ``sync/Deleted`` name that key). Every other sync row is keyed by ``ID``."""

LEFT_OUT = frozenset({"Division"})
"""Not in a stream's default ``$select``: every record carries ``division`` already."""


@cache
def snake_case(name: str) -> str:
    """The one naming rule: ``GLAccountCode`` → ``gl_account_code``, ``ID`` → ``id``,
    ``TransactionLines`` → ``transaction_lines``, ``VATAmountFC`` → ``vat_amount_fc``.
    Cached: the pack's thousand property names are renamed several times at each start."""
    text = _ACRONYM_WORD.sub(r"\1_\2", name)
    text = _WORD_START.sub(r"\1_\2", text)
    return _NOT_ALNUM.sub("_", text.lower()).strip("_")


_ACRONYM_WORD = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_START = re.compile(r"([a-z0-9])([A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def closest(word: str, choices: list[str], n: int = 3) -> list[str]:
    """The closest few of ``choices`` to ``word`` (case-insensitive), best first."""
    lowered = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)
    if not found:  # a last segment alone ("Projects") still finds its endpoints
        tail = word.strip("/").split("/")[-1].lower()
        found = [k for k in lowered if k.split("/")[-1] == tail][:n]
    return [lowered[f] for f in found]


def endpoint_of(setting: str, where: str, path: str) -> Endpoint:
    """The reference's endpoint at ``path``, or a :class:`ConfigError` naming it with the
    closest endpoints the reference has."""
    found = reference().endpoint(path)
    if found is not None and "GET" in found.methods:
        return found
    if found is not None:
        raise ConfigError(setting, f"{where}: Exact's {found.path} cannot be read (no GET)")
    readable = [e.path for e in reference() if "GET" in e.methods]
    near = closest(path, readable)
    hint = f"; closest: {', '.join(near)}" if near else ""
    raise ConfigError(
        setting, f"{where}: Exact's API reference has no endpoint '{path}'{hint}"
    )


def identity_key(endpoint: Endpoint) -> tuple[str, ...]:
    """The properties that identify a row: the reference's key (``Timestamp`` on a sync
    endpoint is a version, not an identity: there the row's ``ID``, see :data:`SYNC_KEYS`)."""
    if endpoint.family == "sync":
        key = SYNC_KEYS.get(endpoint.path, "ID")
        return (key,) if key in endpoint else ("Timestamp",)
    return endpoint.keys


def default_replication(endpoint: Endpoint) -> str | None:
    """``sync/`` → ``Timestamp``; plain and ``bulk/`` → ``Modified`` where the entity has it;
    else None (the full table each run)."""
    if endpoint.family == "sync" and "Timestamp" in endpoint:
        return "Timestamp"
    if endpoint.family != "sync" and "Modified" in endpoint:
        return "Modified"
    return None


@dataclass(frozen=True)
class Header:
    """Where the rows of a line endpoint without ``Timestamp`` or ``Modified`` are read with
    their changes: the header ``endpoint`` holding them as the expandable ``collection``, keyed
    by ``key``, a property every line carries (``purchaseentry/PurchaseEntries``,
    ``PurchaseEntryLines``, ``EntryID``). A line is as new as its header's ``Modified``."""

    endpoint: str
    collection: str
    key: str

    @property
    def modified(self) -> str:
        """The name a line's record gives its header's ``Modified``: the key's stem +
        ``Modified`` (``EntryID`` → ``EntryModified``)."""
        stem = self.key[:-2] if self.key.endswith("ID") else self.key
        return f"{stem}Modified"


def header_of(endpoint: Endpoint) -> Header | None:
    """The header a line endpoint is read through (see :class:`Header`): the readable endpoint
    of the same service with ``Modified`` whose one key every line carries and whose
    collection property holds this entity set; None when the endpoint has a ``Timestamp`` or
    ``Modified`` of its own, or no such header."""
    if default_replication(endpoint) is not None or endpoint.family != "plain":
        return None
    service, entity_set = endpoint.path.rsplit("/", 1)
    for other in reference():
        if (other.path.rsplit("/", 1)[0] != service or other.family != "plain"
                or "GET" not in other.methods or "Modified" not in other
                or len(other.keys) != 1 or other.keys[0] not in endpoint):
            continue
        for prop in other.properties:
            if prop.is_collection and prop.of == entity_set and prop.accepts("GET"):
                return Header(other.path, prop.name, other.keys[0])
    return None


def default_select(endpoint: Endpoint) -> tuple[str, ...]:
    """Every property a GET returns, except collections (each an extra call) and
    :data:`LEFT_OUT`."""
    return tuple(
        p.name for p in endpoint.properties
        if p.accepts("GET") and not p.is_collection and p.name not in LEFT_OUT
    )


def unknown_properties(endpoint: Endpoint, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n not in endpoint]


def nested_endpoint(endpoint: Endpoint, prop: Property) -> Endpoint | None:
    """The entity set a ``Collection`` property holds (``PurchaseEntryLines`` of
    ``purchaseentry/PurchaseEntries`` is ``purchaseentry/PurchaseEntryLines``)."""
    if not prop.of:
        return None
    service = endpoint.path.rsplit("/", 1)[0]
    return reference().endpoint(f"{service}/{prop.of}")


def value_schema(endpoint: Endpoint, prop: Property, rename: bool,
                 *, nullable: bool = True) -> dict[str, Any]:
    """The JSON Schema of one property's values."""
    if prop.type is None:
        return dict(ANY_JSON)
    if prop.is_collection:
        nested = nested_endpoint(endpoint, prop)
        items: dict[str, Any] = {"type": "object"}
        if nested is not None:
            items["properties"] = {
                snake_case(p.name) if rename else p.name: value_schema(nested, p, rename)
                for p in nested.properties if not p.is_collection
            }
        return {"type": ["array", "null"] if nullable else "array", "items": items}
    schema = dict(EDM_JSON[prop.type])
    if nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def check_write(stream: str, endpoint_path: str, body: Mapping[str, Any], method: str,
                *, keys: tuple[str, ...] = (), strict: bool = True) -> dict[str, Any]:
    """The body to send, checked before any call against Exact's reference: a property the
    endpoint lacks, a property it does not accept on ``method`` (without ``strict``, as for
    the target whose records carry the tap's read-only columns, those are left out), or (POST)
    a required one missing is a :class:`ValidationError` naming it."""
    endpoint = reference().endpoint(endpoint_path)
    if endpoint is None:
        raise ValidationError(
            f"{stream}: Exact's API reference has no endpoint '{endpoint_path}' to write to"
        )
    verb = method.upper()
    if verb not in endpoint.methods:
        raise ValidationError(f"{stream}: Exact's {endpoint.path} does not take {verb}")
    unknown = sorted(name for name in body if name not in endpoint)
    if unknown:
        raise ValidationError(
            f"{stream}: {endpoint.path} has no property {', '.join(unknown)}"
        )
    if not strict:
        body = {k: v for k, v in body.items() if _accepts(endpoint, k, verb)}
    refused = sorted(
        name for name, value in body.items()
        if value is not None and not _accepts(endpoint, name, verb)
    )
    if refused:
        accepted = ", ".join(endpoint.accepted(verb))
        raise ValidationError(
            f"{stream}: {endpoint.path} does not accept {', '.join(refused)} on {verb} "
            f"(it accepts: {accepted})"
        )
    if verb == "POST":
        missing = [n for n in endpoint.required()
                   if n not in keys and (endpoint.property(n) or _NO).accepts("POST")
                   and not (endpoint.property(n) or _NO).key and body.get(n) in (None, "")]
        if missing:
            raise ValidationError(
                f"{stream}: {endpoint.path} requires {', '.join(missing)} to create a record"
            )
    return {k: v for k, v in body.items() if v is not None or verb == "PUT"}


_NO = Property(name="", type=None, methods=frozenset())


def _accepts(endpoint: Endpoint, name: str, verb: str) -> bool:
    prop = endpoint.property(name)
    return prop is not None and prop.accepts(verb)


__all__ = [
    "ANY_JSON",
    "EDM_JSON",
    "SYNC_KEYS",
    "Header",
    "check_write",
    "closest",
    "default_replication",
    "default_select",
    "endpoint_of",
    "header_of",
    "identity_key",
    "nested_endpoint",
    "snake_case",
    "unknown_properties",
    "value_schema",
]
