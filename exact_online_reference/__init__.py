"""Exact Online's REST API reference as typed data: endpoints, methods, page sizes, properties.

``exact-api-reference.json`` (next to this module) is Exact's public REST API reference
(``start.exactonline.nl/docs/HlpRestAPIResources.aspx``, compiled 2025-07) as data: 351
endpoints of the plain, ``bulk/``, ``sync/`` and ``read/`` families with their HTTP methods,
page size and every property with its Edm type, the methods it takes part in, and its key and
required flags. :mod:`exact_online_reference.recorded` adds what real recorded responses show
beyond it. The connector's core and the sandbox both read it from here, so the facts exist once;
this package imports nothing of either.

    >>> from exact_online_reference import reference
    >>> ep = reference().endpoint("crm/Accounts")
    >>> ep.property("Name").accepts("POST")
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Family = Literal["plain", "bulk", "sync", "read"]
EdmType = Literal[
    "Guid", "UTF8String", "UTF8CodeString", "DateTime", "Boolean", "Byte", "Int16", "Int32",
    "Int64", "Double", "Binary", "Collection",
]
EDM_TYPES: frozenset[str] = frozenset(EdmType.__args__)  # type: ignore[attr-defined]
METHODS = ("GET", "POST", "PUT", "DELETE")
DATA_FILE = "exact-api-reference.json"


@dataclass(frozen=True)
class Property:
    """One property of an endpoint.

    ``type`` is None where the reference gives none (``system/Divisions`` ``Class_01``..);
    ``of`` names the nested entity set of a ``Collection`` (what ``$expand`` returns).
    ``methods``: the requests the property takes part in (``POST``/``PUT`` = accepted in a
    body, ``GET`` = returned).
    """

    name: str
    type: EdmType | None
    methods: frozenset[str]
    key: bool = False
    required: bool = False
    of: str | None = None

    @property
    def is_collection(self) -> bool:
        return self.type == "Collection"

    def accepts(self, method: str) -> bool:
        return method.upper() in self.methods


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: ``crm/Accounts``, ``sync/CRM/Accounts``, ``read/financial/ReceivablesList``."""

    path: str
    methods: frozenset[str]
    page_size: int
    properties: tuple[Property, ...]

    @property
    def family(self) -> Family:
        return family_of(self.path)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties if p.key)

    def property(self, name: str) -> Property | None:
        return self._by_name().get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name()

    def accepted(self, method: str) -> tuple[str, ...]:
        """Properties a request of ``method`` takes (``POST``/``PUT`` bodies; ``GET`` answers)."""
        wanted = method.upper()
        return tuple(p.name for p in self.properties if wanted in p.methods)

    def required(self) -> tuple[str, ...]:
        """Properties the reference marks required (keys included)."""
        return tuple(p.name for p in self.properties if p.required)

    def _by_name(self) -> dict[str, Property]:
        cached: dict[str, Property] | None = self.__dict__.get("_index")
        if cached is None:
            cached = {p.name: p for p in self.properties}
            object.__setattr__(self, "_index", cached)
        return cached


def family_of(path: str) -> Family:
    """``sync/…`` → sync, ``bulk/…`` → bulk, ``read/…`` → read, anything else → plain."""
    head = path.split("/", 1)[0].lower()
    if head in ("sync", "bulk", "read"):
        return head  # type: ignore[return-value]
    return "plain"


@dataclass(frozen=True)
class Reference:
    """Every endpoint of the reference by path (lookups are case-insensitive)."""

    source: str
    notes: tuple[str, ...]
    endpoints: Mapping[str, Endpoint]

    def endpoint(self, path: str) -> Endpoint | None:
        found = self.endpoints.get(path)
        if found is not None:
            return found
        return self._lower().get(path.strip("/").lower())

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.endpoints.values())

    def __len__(self) -> int:
        return len(self.endpoints)

    def family(self, family: Family) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints.values() if e.family == family)

    def _lower(self) -> dict[str, Endpoint]:
        cached: dict[str, Endpoint] | None = self.__dict__.get("_lower_index")
        if cached is None:
            cached = {p.lower(): e for p, e in self.endpoints.items()}
            object.__setattr__(self, "_lower_index", cached)
        return cached


_METHODS = frozenset(METHODS)
_METHOD_SETS: dict[tuple[object, ...], frozenset[str]] = {}
"""Each list of methods seen, as its (shared) frozenset: ten thousand properties, a few lists."""


def _property(raw: Mapping[str, object], where: str) -> Property:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a property without a name")
    ptype = raw.get("type")
    if ptype is not None and ptype not in EDM_TYPES:
        raise ValueError(f"{where}.{name}: unknown Edm type {ptype!r}")
    methods = raw.get("methods") or ()
    if not isinstance(methods, list):
        raise ValueError(f"{where}.{name}: methods must be a list of {METHODS}")
    allowed = _METHOD_SETS.get(tuple(methods))
    if allowed is None:
        allowed = frozenset(methods)
        if not allowed <= _METHODS:
            raise ValueError(f"{where}.{name}: methods must be a list of {METHODS}")
        _METHOD_SETS[tuple(methods)] = allowed
    of = raw.get("of")
    return Property(name=name, type=ptype,  # type: ignore[arg-type]
                    methods=allowed, key=bool(raw.get("key")),
                    required=bool(raw.get("required")), of=of if isinstance(of, str) else None)


def parse(data: Mapping[str, object]) -> Reference:
    """The reference from its JSON form (``{"source", "notes", "endpoints": {path: …}}``)."""
    raw_endpoints = data.get("endpoints")
    if not isinstance(raw_endpoints, dict):
        raise ValueError("the reference has no 'endpoints' object")
    endpoints: dict[str, Endpoint] = {}
    for path, raw in raw_endpoints.items():
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected an object")
        methods = raw.get("methods") or []
        page_size = raw.get("page_size")
        if not isinstance(page_size, int) or page_size <= 0:
            raise ValueError(f"{path}: page_size must be a positive integer")
        props = tuple(_property(p, path) for p in raw.get("properties") or [])
        endpoints[path] = Endpoint(path=path, methods=frozenset(methods), page_size=page_size,
                                   properties=props)
    notes = data.get("notes") or []
    return Reference(source=str(data.get("source", "")),
                     notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
                     endpoints=endpoints)


@cache
def reference() -> Reference:
    """Exact's REST API reference (loaded once per process)."""
    text = resources.files(__name__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse(json.loads(text))


__all__ = [
    "DATA_FILE",
    "EDM_TYPES",
    "EdmType",
    "Endpoint",
    "Family",
    "Property",
    "Reference",
    "family_of",
    "parse",
    "reference",
]
