"""Helpers for the shape tests: which JSON values fit an Edm type, rows of an OData answer."""

from __future__ import annotations

import re
from typing import Any

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATE = re.compile(r"^/Date\(-?\d+([+-]\d{4})?\)/$")
INT64 = re.compile(r"^-?\d+$")
FLAGS = frozenset({"Boolean", "Byte"})


def fits(edm: str | None, value: Any) -> bool:
    """Whether ``value`` is how Exact writes a value of Edm type ``edm`` (null fits any type
    here; the never-null flags are checked on their own)."""
    if value is None:
        return True
    if edm is None:
        return False
    if edm == "Collection":
        return isinstance(value, dict) and ("__deferred" in value or "results" in value)
    if edm == "Guid":
        return isinstance(value, str) and bool(GUID.match(value))
    if edm == "DateTime":
        return isinstance(value, str) and bool(DATE.match(value))
    if edm == "Int64":
        return isinstance(value, str) and bool(INT64.match(value))
    if edm == "Boolean":
        return isinstance(value, bool)
    if edm in ("Byte", "Int16", "Int32"):
        return isinstance(value, int) and not isinstance(value, bool)
    if edm == "Double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)  # UTF8String, UTF8CodeString, Binary (base64)


def kind(value: Any) -> str:
    """The JSON kind of a value, with the string forms Exact gives dates and GUIDs."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "deferred" if "__deferred" in value else "expanded" if "results" in value \
            else "object"
    if isinstance(value, str):
        if DATE.match(value):
            return "date"
        if GUID.match(value):
            return "guid"
        return "string"
    return type(value).__name__


def rows_of(body: Any) -> list[dict[str, Any]]:
    """The rows of ``{"d": {"results": [...]}}``, ``{"d": [...]}`` or ``{"d": {...}}``."""
    d = body["d"]
    if isinstance(d, list):
        return d
    if "results" in d:
        return list(d["results"])
    return [d]


def envelope(body: Any) -> str:
    """``results`` / ``bare`` / ``single`` (+ ``next`` when a ``__next`` is given)."""
    d = body["d"]
    if isinstance(d, list):
        return "bare"
    if "results" in d:
        return "results+next" if "__next" in d else "results"
    return "single"
