"""Checks the user's ``field_mappings`` and ``custom_streams`` settings once, at start.

A bad mapping is a :class:`ConfigError` naming the setting, the model (or stream) and the
property, before any call to Exact. The result is typed: :class:`FieldMapping` (which becomes
a :class:`FieldMap` column of the model) and :class:`CustomStream`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast, get_args

from exact_online_core.errors import ConfigError, ValidationError
from exact_online_core.mappings.base import (
    MODELS,
    FieldMap,
    JsonType,
    default_read_write,
    get_model,
)
from exact_online_core.reference_schema import (
    Header,
    closest,
    default_replication,
    default_select,
    endpoint_of,
    identity_key,
    snake_case,
)
from exact_online_reference import Endpoint, reference

FIELD_MAPPINGS = "field_mappings"
CUSTOM_STREAMS = "custom_streams"

MAPPING_TYPES: tuple[str, ...] = tuple(t for t in get_args(JsonType) if t != "array")
"""Types a mapped field may declare: string, number, integer, boolean, date-time."""

_PROPERTY = re.compile(r"^[a-z][a-z0-9_]*$")
_STREAM = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)+$")
_EXACT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class FieldMapping:
    """One custom column: ``model.unified`` ← Exact ``exact`` as ``type``."""

    model: str
    unified: str
    exact: str
    type: JsonType

    def field_map(self) -> FieldMap:
        read, write = default_read_write(self.type)
        return FieldMap(
            self.unified,
            self.exact,
            self.type,
            read=read,
            write=write,
            description=f"Custom field mapped from Exact {self.exact}.",
        )


@dataclass(frozen=True)
class CustomStream:
    """An Exact endpoint exposed as a stream typed by Exact's API reference.

    ``primary_keys``, ``select`` and ``replication_key`` hold Exact's property names.
    ``rename``: records name each property by :func:`snake_case` and the key ``id`` (the
    built-in pack); otherwise records keep Exact's names (``custom_streams``).
    ``header``: the rows are read with their header's changes (:class:`Header`); the
    ``replication_key`` is then the header's ``Modified`` as each record carries it.
    """

    name: str
    endpoint: str
    primary_keys: tuple[str, ...]
    select: tuple[str, ...]
    replication_key: str | None = None
    write_endpoint: str | None = None
    filters: tuple[str, ...] = ()
    rename: bool = False
    header: Header | None = None

    @property
    def reference(self) -> Endpoint | None:
        """The endpoint in Exact's API reference (None only for an unchecked endpoint)."""
        return reference().endpoint(self.endpoint)

    def out(self, exact: str) -> str:
        """The record property for Exact's property ``exact``."""
        if not self.rename:
            return exact
        if self.primary_keys == (exact,):
            return "id"
        return snake_case(exact)

    @property
    def key_properties(self) -> tuple[str, ...]:
        """The stream's primary key: the division first, as for every stream."""
        return ("division", *(self.out(k) for k in self.primary_keys))

    @property
    def replication_property(self) -> str | None:
        """The record property the stream bookmarks on (None: full table)."""
        return self.out(self.replication_key) if self.replication_key else None

    def narrowed(self, properties: Collection[str] | None) -> CustomStream:
        """The stream reading only the record ``properties`` a catalog selects (Exact's
        ``$select`` narrows with it); the key and the bookmark are always read."""
        if properties is None:
            return self
        wanted = set(properties)
        always = {*self.primary_keys, *([self.replication_key] if self.replication_key else ())}
        select = tuple(n for n in self.select if n in always or self.out(n) in wanted)
        return self if select == self.select else replace(self, select=select)

    @property
    def filter(self) -> str | None:
        """The ``$filter`` text: all ``filters`` joined with ``and``."""
        if not self.filters:
            return None
        return " and ".join(f"({f})" if len(self.filters) > 1 else f for f in self.filters)


def _field_error(problem: str) -> ConfigError:
    return ConfigError(FIELD_MAPPINGS, problem)


def parse_field_mappings(value: Any) -> dict[str, tuple[FieldMapping, ...]]:
    """``{model: {prop: "ExactField" | {"exact": ..., "type": ...}}}`` → mappings per model.

    Models may be named by stream name or model id; the result is keyed by stream name.
    Without ``type``, the Exact property's own type is used.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _field_error("must be an object of model name → {property: Exact field}")
    out: dict[str, tuple[FieldMapping, ...]] = {}
    for model_name, props in value.items():
        try:
            model = get_model(str(model_name))
        except ValidationError:
            known = ", ".join(sorted(MODELS))
            raise _field_error(f"unknown model '{model_name}' (known: {known})") from None
        if not isinstance(props, Mapping):
            raise _field_error(f"{model.name}: must be an object of property → Exact field")
        builtin = set(model.builtin_properties)
        mapped = {model.key: "id", "Created": "created_at", "Modified": "updated_at"}
        mapped.update({f.exact: f.unified for f in model.fields if f.exact})
        parsed: list[FieldMapping] = []
        for prop, spec in props.items():
            where = f"{model.name}.{prop}"
            if not isinstance(prop, str) or not _PROPERTY.match(prop):
                raise _field_error(f"{where}: property names are snake_case (a-z, 0-9, _)")
            if prop in builtin:
                raise _field_error(f"{where}: clashes with the built-in property '{prop}'")
            exact, json_type = _parse_spec(where, spec)
            if exact not in model.exact_fields:
                raise _field_error(
                    f"{where}: Exact's {model.entity} has no property '{exact}'"
                )
            if exact in mapped:
                raise _field_error(
                    f"{where}: Exact {exact} is already mapped to '{mapped[exact]}'"
                )
            parsed.append(
                FieldMapping(model.name, prop, exact, json_type or model.exact_types[exact])
            )
        if parsed:
            out[model.name] = (*out.get(model.name, ()), *parsed)
    return out


def _parse_spec(where: str, spec: Any) -> tuple[str, JsonType | None]:
    if isinstance(spec, str):
        return spec.strip(), None
    if not isinstance(spec, Mapping):
        raise _field_error(f"{where}: must be an Exact field name or {{\"exact\", \"type\"}}")
    unknown = set(spec) - {"exact", "type"}
    if unknown:
        raise _field_error(f"{where}: unknown keys {sorted(unknown)} (allowed: exact, type)")
    exact = spec.get("exact")
    if not isinstance(exact, str) or not exact.strip():
        raise _field_error(f"{where}: 'exact' must name an Exact property")
    json_type = spec.get("type")
    if json_type is None:
        return exact.strip(), None
    if json_type not in MAPPING_TYPES:
        raise _field_error(
            f"{where}: type '{json_type}' is not one of {', '.join(MAPPING_TYPES)}"
        )
    return exact.strip(), cast(JsonType, json_type)


def field_maps(
    mappings: Mapping[str, tuple[FieldMapping, ...]], model: str
) -> tuple[FieldMap, ...]:
    """The custom columns of one model, ready for ``to_unified``/``to_exact``/``json_schema``."""
    return tuple(m.field_map() for m in mappings.get(get_model(model).name, ()))


# ---------------------------------------------------------------------------------------------
# custom_streams
# ---------------------------------------------------------------------------------------------

_STREAM_KEYS = {"name", "endpoint", "primary_keys", "replication_key", "select",
                "write_endpoint", "filters"}


def _stream_error(problem: str) -> ConfigError:
    return ConfigError(CUSTOM_STREAMS, problem)


def _names(where: str, key: str, value: Any, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value):
        raise _stream_error(f"{where}: '{key}' must be a non-empty list of Exact property names")
    for name in value:
        if not isinstance(name, str) or not _EXACT_NAME.match(name):
            raise _stream_error(f"{where}: '{key}' has an invalid property name {name!r}")
    if len(set(value)) != len(value):
        raise _stream_error(f"{where}: '{key}' lists a property twice")
    return tuple(value)


def _endpoint(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not _ENDPOINT.match(value.strip()):
        raise _stream_error(
            f"{where}: '{key}' must be a path relative to /api/v1/{{division}}/, "
            f"like 'project/Projects' (got {value!r})"
        )
    return value.strip()


def parse_custom_stream(entry: Any, index: int = 0) -> CustomStream:
    """One ``custom_streams`` entry → :class:`CustomStream`, or a ConfigError naming it."""
    if not isinstance(entry, Mapping):
        raise _stream_error(f"entry {index}: must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not _STREAM.match(name):
        raise _stream_error(
            f"entry {index}: 'name' must be snake_case (a-z, 0-9, _), got {name!r}"
        )
    where = f"stream '{name}'"
    unknown = set(entry) - _STREAM_KEYS
    if unknown:
        raise _stream_error(f"{where}: unknown keys {sorted(unknown)}")
    endpoint = endpoint_of(CUSTOM_STREAMS, where,
                           _endpoint(where, "endpoint", entry.get("endpoint")))
    given = _names(where, "select", entry.get("select"), required=False)
    keys = _names(where, "primary_keys", entry.get("primary_keys"), required=False)
    if "primary_keys" in entry and not keys:
        raise _stream_error(f"{where}: 'primary_keys' must be a non-empty list")
    if given and keys:
        missing = [k for k in keys if k not in given]
        if missing:
            raise _stream_error(f"{where}: primary key {missing[0]} must also be in 'select'")
    keys = keys or identity_key(endpoint)
    if "replication_key" in entry:
        replication_key = entry.get("replication_key")
        if replication_key is not None and (
            not isinstance(replication_key, str) or (given and replication_key not in given)
            or replication_key not in endpoint
        ):
            raise _stream_error(f"{where}: 'replication_key' must be one of the 'select' names")
    else:
        replication_key = default_replication(endpoint)
    if given:  # the user's list, plus what the key and the bookmark need
        wanted = (*given, *keys, *([replication_key] if replication_key else ()))
    else:
        wanted = (*keys, *default_select(endpoint))
    select = tuple(dict.fromkeys(wanted))
    _known(where, "select", endpoint, select)
    write_endpoint = entry.get("write_endpoint")
    if write_endpoint is not None:
        write_endpoint = _endpoint(where, "write_endpoint", write_endpoint)
        if write_endpoint.split("/", 1)[0].lower() in ("sync", "bulk"):
            raise _stream_error(f"{where}: 'write_endpoint' cannot be a read-only sync/bulk path")
        write_endpoint = _writable(where, write_endpoint)
    filters = entry.get("filters")
    if isinstance(filters, str):
        filters = [filters]
    if filters is not None and (
        not isinstance(filters, list) or not all(isinstance(f, str) and f.strip() for f in filters)
    ):
        raise _stream_error(f"{where}: 'filters' must be an OData $filter string or a list")
    return CustomStream(
        name=name,
        endpoint=endpoint.path,
        primary_keys=keys,
        select=select,
        replication_key=replication_key,
        write_endpoint=write_endpoint,
        filters=tuple(f.strip() for f in filters or ()),
    )


def _known(where: str, key: str, endpoint: Endpoint, names: tuple[str, ...]) -> None:
    """Every name is a property of the endpoint, or an error suggesting the closest."""
    for name in names:
        if name not in endpoint:
            near = closest(name, list(endpoint.names))
            hint = f" (closest: {', '.join(near)})" if near else ""
            raise _stream_error(
                f"{where}: '{key}' names {name}, which Exact's {endpoint.path} does not have"
                f"{hint}"
            )


def _writable(where: str, path: str) -> str:
    found = reference().endpoint(path)
    if found is None or not found.methods & {"POST", "PUT", "DELETE"}:
        writable = [e.path for e in reference() if e.methods & {"POST", "PUT"}]
        near = closest(path, writable)
        hint = f"; closest: {', '.join(near)}" if near else ""
        raise _stream_error(
            f"{where}: 'write_endpoint' {path} is not a writable endpoint of Exact's API "
            f"reference{hint}"
        )
    return found.path


def parse_custom_streams(value: Any) -> tuple[CustomStream, ...]:
    """The ``custom_streams`` list → streams; names unique and distinct from the models'."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _stream_error("must be a list of stream objects")
    streams = tuple(parse_custom_stream(entry, i) for i, entry in enumerate(value))
    seen: set[str] = set()
    for stream in streams:
        if stream.name in seen:
            raise _stream_error(f"stream '{stream.name}': the name is used twice")
        if stream.name in MODELS:
            raise _stream_error(f"stream '{stream.name}': the name is a built-in stream")
        seen.add(stream.name)
    return streams
