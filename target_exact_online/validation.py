"""Each record checked and planned before any call to Exact.

:class:`RecordPlanner` turns one record into a
:class:`Plan` (operation, division, input key, the properties to send, payload hash), or
raises :class:`RecordInvalid` with every problem found: schema, required fields per
operation, malformed GUID references, the division.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema  # type: ignore[import-untyped]

from exact_online_core.errors import ValidationError
from exact_online_core.mappings import (
    COMMON_PROPERTIES,
    TIMESTAMP_PROPERTY,
    Model,
    get_model,
    json_schema,
    to_exact,
)
from exact_online_core.mappings.converters import parse_rfc3339
from target_exact_online.streams import StreamRefusedError, StreamSpec, resolve_stream

__all__ = ["Plan", "RecordInvalid", "RecordPlanner", "StreamRefusedError", "StreamSpec",
           "resolve_stream", "schema_problem"]

Operation = Literal["create", "update", "delete"]

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

CUSTOM_READ_ONLY = frozenset(
    {"Division", "Timestamp", "Created", "Creator", "CreatorFullName", "Modified",
     "Modifier", "ModifierFullName"}
)
"""Raw Exact properties of a custom stream that are never written back (audit fields)."""


class RecordInvalid(Exception):
    """A record that fails validation: a per-record error, the run goes on."""

    def __init__(self, message: str, *, operation: str | None, input_key: str | None,
                 division: int | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.input_key = input_key
        self.division = division


def canonical_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    # surrogatepass: a record with a lone surrogate still gets a key for its failed result
    # (valid text hashes exactly as before, so existing ledgers keep matching)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def surrogate_problems(record: Mapping[str, Any]) -> list[str]:
    """Where the record holds a lone surrogate (a ``\\ud800`` escape in the JSON): text that
    is not Unicode, which Exact cannot store and the ledger cannot key."""
    problems: list[str] = []
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in record.items()]
    stack.reverse()
    while stack and len(problems) < 5:
        where, value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend(reversed([(f"{where}.{k}", v) for k, v in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{where}[{i}]", v) for i, v in enumerate(value)]))
        if _has_surrogate(where):
            shown = where.encode("utf-8", "backslashreplace").decode("ascii", "replace")
            problems.append(f'property name "{shown[:80]}" contains a lone surrogate: not '
                            "valid Unicode text")
        elif isinstance(value, str) and _has_surrogate(value):
            shown = value.encode("utf-8", "backslashreplace").decode("ascii", "replace")
            problems.append(f'{where}: "{shown[:60]}" contains a lone surrogate (a \\ud800-'
                            "style escape on its own): not valid Unicode text, Exact Online "
                            "cannot store it")
    return problems


def without_sdc(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_sdc_")}


@dataclass
class Plan:
    """One validated record, ready to be written (or shown, in a dry run)."""

    stream: StreamSpec
    operation: Operation
    division: int
    input_key: str
    record_id: str | None
    clean: dict[str, Any]           # the properties to send (unified names, or raw Exact)
    body: dict[str, Any]            # the Exact body they map to (for a dry run's call)
    payload_hash: str | None
    warnings: list[str] = field(default_factory=list)


def _coerce(value: Any, json_type: str) -> Any:
    """Text from a file tap (CSV) → the model's JSON type; anything else unchanged."""
    if not isinstance(value, str) or json_type in ("string", "date-time", "array"):
        return value
    text = value.strip()
    if text == "":
        return None
    try:
        if json_type == "integer" and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if json_type == "number":
            return float(text)
    except ValueError:
        return value
    if json_type == "boolean" and text.lower() in ("true", "false", "1", "0"):
        return text.lower() in ("true", "1")
    return value


def _schema_errors(validator: Any, record: Mapping[str, Any], what: str) -> list[str]:
    errors = sorted(validator.iter_errors(dict(record)), key=lambda e: list(e.path))
    out = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.path) or "record"
        out.append(f"{where}: {error.message} ({what})")
    return out


def _datetime_errors(schema: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    out = []
    for prop, spec in (schema.get("properties") or {}).items():
        value = record.get(prop)
        if isinstance(spec, Mapping) and spec.get("format") == "date-time" and value:
            try:
                parse_rfc3339(value)
            except (TypeError, ValueError):
                out.append(f"{prop}: {value!r} is not an RFC 3339 date-time")
    return out


class RecordPlanner:
    """Validates the records of one stream and plans their writes (no I/O)."""

    def __init__(self, spec: StreamSpec, input_schema: Mapping[str, Any], *,
                 external_id: str | None, default_division: Callable[[], int | None],
                 allowed_divisions: Collection[int] | None) -> None:
        self.spec = spec
        self.external_id = external_id
        self.default_division = default_division
        self.allowed_divisions = allowed_divisions
        # requiredness depends on the operation (a create has no id): checked below
        self.input_validator = _validator(_without_required(dict(input_schema)))
        self.model_schema: dict[str, Any] | None = None
        self.model_validator: Any = None
        if spec.model is not None:
            schema = _without_required(json_schema(spec.model, spec.extra_fields))
            schema.pop("$schema", None)
            self.model_schema = schema
            self.model_validator = _validator(schema)

    # -- the steps --------------------------------------------------------------------------

    def operation(self, record: Mapping[str, Any]) -> Operation:
        if record.get("_sdc_deleted_at") not in (None, ""):
            return "delete"
        rid = record.get(self.spec.id_property)
        return "update" if rid not in (None, "") else "create"

    def input_key(self, record: Mapping[str, Any], operation: Operation) -> str:
        if self.external_id:
            value = record.get(self.external_id)
            if value not in (None, ""):
                return f"ext:{value}"
        content = without_sdc(record)
        if operation == "delete":
            content = {"__delete__": True, **content}
        return f"sha256:{canonical_hash(content)}"

    def division(self, record: Mapping[str, Any]) -> int:
        value = record.get("division")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if value in (None, ""):
            default = self.default_division()
            if default is None:
                raise ValueError("the record has no division and no default division is "
                                 "known (set the 'divisions' setting)")
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"division {value!r} is not a division code")
        if self.allowed_divisions is not None and value not in self.allowed_divisions:
            allowed = ", ".join(str(d) for d in self.allowed_divisions)
            raise ValueError(f"division {value} is not one of the configured divisions "
                             f"({allowed})")
        return value

    def plan(self, record: Mapping[str, Any]) -> Plan:
        operation = self.operation(record)
        key = self.input_key(record, operation)
        broken = surrogate_problems(record)
        if broken:
            raise RecordInvalid("; ".join(broken), operation=operation, input_key=key)
        problems = _schema_errors(self.input_validator, record, "input schema")
        division: int | None = None
        try:
            division = self.division(record)
        except ValueError as exc:
            problems.append(str(exc))
        if self.spec.model is not None:
            data, more = self._model_checks(record, operation)
        else:
            data, more = self._custom_checks(record, operation)
        seen = {p.split(":", 1)[0] for p in problems}
        problems += [p for p in more if p.split(":", 1)[0] not in seen]
        rid = data.get(self.spec.id_property)
        if operation != "create" and rid in (None, "") and not self.external_id:
            problems.append(f"'{self.spec.id_property}' is required to {operation} a record")
        clean: dict[str, Any] = {}
        body: dict[str, Any] = {}
        warnings: list[str] = []
        if not problems and operation != "delete":
            try:
                clean, body, warnings = self._build(data, operation)
            except ValidationError as exc:
                problems.append(exc.message)
        if problems or division is None:
            raise RecordInvalid("; ".join(problems), operation=operation, input_key=key,
                                division=division)
        return Plan(
            stream=self.spec, operation=operation, division=division, input_key=key,
            record_id=None if rid in (None, "") else str(rid), clean=clean, body=body,
            payload_hash=None if operation == "delete" else canonical_hash(clean),
            warnings=warnings,
        )

    def _model_checks(self, record: Mapping[str, Any],
                      operation: Operation) -> tuple[dict[str, Any], list[str]]:
        assert self.model_schema is not None
        fields = self.spec.fields()
        data = dict(record)
        for prop, value in record.items():
            f = fields.get(prop)
            if f is not None:
                data[prop] = _coerce(value, f.type)
        for prop in ("id", "division"):
            if data.get(prop) == "":
                data[prop] = None
        model_props = self.model_schema["properties"]
        known = {k: v for k, v in data.items()
                 if k in model_props and not k.startswith("_sdc_")
                 and not (k in ("id", "division") and v is None)}
        if isinstance(known.get("division"), str) and known["division"].strip().isdigit():
            known["division"] = int(known["division"].strip())
        problems = _schema_errors(self.model_validator, known, f"{self.spec.name} model")
        problems += _datetime_errors(self.model_schema, known)
        problems += self._guid_problems(data, operation)
        return data, problems

    def _guid_problems(self, data: Mapping[str, Any], operation: Operation) -> list[str]:
        assert self.spec.model is not None
        problems = []
        rid = data.get("id")
        if (operation != "create" and self.spec.model.key_read == "guid"
                and rid not in (None, "") and (not isinstance(rid, str) or not GUID.match(rid))):
            problems.append(f"id {rid!r} is not a GUID")
        for f in self.spec.fields().values():
            value = data.get(f.unified)
            if f.write == "guid" and value not in (None, "") and (
                not isinstance(value, str) or not GUID.match(value.strip())
            ):
                problems.append(f"{f.unified} {value!r} is not a GUID reference")
            if f.nested and isinstance(value, list):
                child = get_model(f.nested)
                for i, item in enumerate(value):
                    if not isinstance(item, Mapping):
                        continue
                    for cf in child.fields:
                        cv = item.get(cf.unified)
                        if cf.write == "guid" and cv not in (None, "") and (
                            not isinstance(cv, str) or not GUID.match(cv.strip())
                        ):
                            problems.append(
                                f"{f.unified}[{i}].{cf.unified} {cv!r} is not a GUID reference"
                            )
        return problems

    def _custom_checks(self, record: Mapping[str, Any],
                       operation: Operation) -> tuple[dict[str, Any], list[str]]:
        return dict(record), []

    def _build(self, data: Mapping[str, Any],
               operation: Operation) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """The properties to send and the Exact body: only writable, present properties."""
        warnings: list[str] = []
        if self.spec.model is None:
            assert self.spec.custom is not None
            skip = {"division", *self.spec.custom.primary_keys, *CUSTOM_READ_ONLY}
            clean = {k: v for k, v in data.items()
                     if k not in skip and not k.startswith("_sdc_")}
            return clean, dict(clean), warnings
        op: Literal["create", "update"] = "create" if operation == "create" else "update"
        clean = {}
        for prop, value in data.items():
            if prop in COMMON_PROPERTIES or prop == TIMESTAMP_PROPERTY:
                continue
            f = self.spec.fields().get(prop)
            if f is None or not f.is_writable:
                continue
            if f.nested and isinstance(value, list):
                # on update the core makes the invoice's lines this full set (by line id)
                value = [_clean_child(get_model(f.nested), item, f.nested_parent,
                                      keep_id=op == "update") for item in value]
            elif f.create_only and op == "update":
                continue
            clean[prop] = value
        header = {k: v for k, v in clean.items()
                  if not (op == "update" and self.spec.fields()[k].nested)}
        body = to_exact(self.spec.model, header, operation=op,
                        extra_fields=self.spec.extra_fields, strict=True)
        for prop, value in clean.items():
            if op == "update" and self.spec.fields()[prop].nested:
                child = get_model(self.spec.fields()[prop].nested or "")
                for item in value or ():
                    to_exact(child, {k: v for k, v in item.items() if k != "id"},
                             operation="update", strict=True)
        return clean, body, warnings


def _clean_child(child: Model, item: Any, parent: str | None, *, keep_id: bool) -> Any:
    """A nested line: only its writable properties (tap records carry computed columns)."""
    if not isinstance(item, Mapping):
        return item
    fields = {f.unified: f for f in child.fields}
    out: dict[str, Any] = {}
    if keep_id and item.get("id"):
        out["id"] = item["id"]
    for prop, value in item.items():
        f = fields.get(prop)
        if f is None or not f.is_writable or prop == parent or value is None:
            continue
        out[prop] = _coerce(value, f.type)
    return out


def _without_required(schema: Any) -> Any:
    """The model schema without ``required``: what is required depends on the operation."""
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why a stream's SCHEMA cannot check its records (None: it can), as the planner uses it."""
    try:
        _validator(_without_required(dict(schema)))
    except StreamRefusedError as exc:
        return str(exc)
    return None


_VALIDATORS: dict[str, Any] = {}
"""Validators by schema: checking a schema against its metaschema is the slow part."""


def _validator(schema: Mapping[str, Any]) -> Any:
    try:  # repr keeps Decimal('1.5') apart from the string "1.5"
        key = json.dumps(schema, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return _checked_validator(schema)
    validator = _VALIDATORS.get(key)
    if validator is None:
        validator = _checked_validator(copy.deepcopy(schema))
        if len(_VALIDATORS) < 64:
            _VALIDATORS[key] = validator
    return validator


def _checked_validator(schema: Mapping[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise StreamRefusedError(f"the stream's SCHEMA is not a valid JSON Schema: "
                                 f"{exc.message}") from None
    return cls(schema)
