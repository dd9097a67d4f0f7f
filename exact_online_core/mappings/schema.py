"""JSON Schemas generated from the mapping tables, so every field is declared exactly once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from exact_online_core.mappings.base import (
    DELETED_AT,
    TIMESTAMP_PROPERTY,
    FieldMap,
    JsonType,
    Model,
    get_model,
)
from exact_online_core.mappings.custom import CustomStream
from exact_online_core.reference_schema import value_schema

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

ANY_JSON: dict[str, Any] = {
    "type": ["string", "number", "integer", "boolean", "object", "array", "null"]
}
"""Any JSON value; used for the raw properties of a custom stream."""

_BASE: dict[JsonType, dict[str, Any]] = {
    "string": {"type": ["string", "null"]},
    "number": {"type": ["number", "null"]},
    "integer": {"type": ["integer", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date-time": {"type": ["string", "null"], "format": "date-time"},
    "array": {"type": ["array", "null"]},
}

DELETED_AT_SCHEMA: dict[str, Any] = {
    **_BASE["date-time"],
    "description": "When the row was deleted in Exact (sync/Deleted)",
}


def property_schema(f: FieldMap) -> dict[str, Any]:
    """The (nullable) schema of one mapped property; nested models become object arrays."""
    schema = dict(_BASE[f.type])
    if f.nested:
        schema["items"] = _object_schema(get_model(f.nested), ())
    if f.description:
        schema["description"] = f.description
    return schema


def _object_schema(model: Model, extra_fields: Iterable[FieldMap]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": {"type": "string", "description": f"Exact {model.key}"},
        # context fields: which division the row lives in, and Exact's audit times
        "division": {"type": "integer", "description": "Exact division code"},
        "created_at": {**_BASE["date-time"], "description": "Exact Created, in UTC"},
        "updated_at": {**_BASE["date-time"], "description": "Exact Modified, in UTC"},
    }
    if model.carries_deletions:
        properties[DELETED_AT] = dict(DELETED_AT_SCHEMA)
    if model.has_timestamp:
        properties[TIMESTAMP_PROPERTY] = {
            **_BASE["integer"],
            "description": "Exact row version (Timestamp): the replication key",
        }
    for f in (*model.fields, *extra_fields):
        properties[f.unified] = property_schema(f)
    return {"type": "object", "properties": properties, "required": ["id", "division"]}


def json_schema(model: Model | str, extra_fields: Iterable[FieldMap] = ()) -> dict[str, Any]:
    """A draft-07 object schema of a unified model, custom mapped fields included.

    Every property is nullable except ``id`` and ``division``; datetimes have
    ``format: date-time``; invoices' ``line_items`` are arrays of line-item objects.
    """
    target = get_model(model) if isinstance(model, str) else model
    schema = _object_schema(target, extra_fields)
    return {"$schema": DRAFT_07, "description": target.description, **schema}


def custom_stream_schema(stream: CustomStream, *, deletions: bool = False) -> dict[str, Any]:
    """A draft-07 schema for a custom (or pack) stream, typed by Exact's API reference.

    Each selected property has its Edm type's JSON type (Guid → string/uuid, DateTime →
    date-time, Double → number, Int* → integer, Boolean → boolean, Collection → array of the
    nested entity); a property the reference gives no type accepts any JSON value. The key
    and ``division`` (added by the tap) are required and never null. ``deletions``: Exact logs
    the endpoint's deletions, so ``_sdc_deleted_at`` is declared.
    """
    endpoint = stream.reference
    properties: dict[str, Any] = {
        "division": {"type": "integer", "description": "Exact division code"}
    }
    for name in stream.select:
        prop = endpoint.property(name) if endpoint is not None else None
        key = name in stream.primary_keys
        schema = value_schema(endpoint, prop, stream.rename, nullable=not key) \
            if endpoint is not None and prop is not None else dict(ANY_JSON)
        schema["description"] = f"Exact {name}"
        properties[stream.out(name)] = schema
    if stream.header is not None and stream.replication_property:
        properties[stream.replication_property] = {
            "type": ["string", "null"], "format": "date-time",
            "description": f"Exact Modified of the line's {stream.header.endpoint} row",
        }
    if deletions:
        properties[DELETED_AT] = dict(DELETED_AT_SCHEMA)
    return {
        "$schema": DRAFT_07,
        "type": "object",
        "properties": properties,
        "required": list(stream.key_properties),
    }
