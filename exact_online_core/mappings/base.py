"""The mapping machinery: a unified model is a table of fields, converted both ways by name.

Every unified model is a :class:`Model` holding :class:`FieldMap` rows. A row names the
unified property, the Exact property behind it, its JSON type and the *names* of a read and a
write converter from :data:`READERS` / :data:`WRITERS` (``converters.py``, which also explains
how Exact's ``/Date()/`` wall-clock values become UTC). Nothing model-specific lives in the
functions below; the model modules (crm, organization, accounting) are tables.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from exact_online_core.errors import MalformedResponseError, ValidationError
from exact_online_core.mappings.converters import (
    AUDIT_SPEC,
    EXACT_TZ,
    READERS,
    WRITERS,
    JsonType,
    default_read_write,
    exact_fields_spec,
    exact_instant,
    parse_rfc3339,
    utc_to_exact_local,
)

ReadKind = Literal["sync", "modified", "full"]
WriteOperation = Literal["create", "update"]

OPERATIONS = frozenset({"list", "search", "retrieve", "create", "update", "delete"})
ALL_OPERATIONS = OPERATIONS
READ_OPERATIONS = frozenset({"list", "search", "retrieve"})

DELETED_AT = "_sdc_deleted_at"
"""Set when Exact deleted the row; only on models whose deletions Exact logs."""

COMMON_PROPERTIES = ("id", "division", "created_at", "updated_at", DELETED_AT)
"""Properties unified records have (``_sdc_deleted_at`` only where deletions arrive); never
written to Exact (id goes into the URL)."""

TIMESTAMP_PROPERTY = "exact_timestamp"
"""Exact's row version (``Timestamp``) on models read from a ``sync/`` endpoint: the
replication key. Null when the row was read from a plain endpoint."""

SPECIAL_READERS = frozenset({"computed", "context"})


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldMap:
    """One unified property and the Exact property behind it.

    ``read="computed"``: filled by model logic (invoice status, balance); ``read="context"``:
    taken from the ``context`` given to :func:`to_unified` (an item's currency is the
    division's). ``create_exact`` names a different Exact property for POST (an invoice's
    customer is ``OrderedBy`` on create, ``InvoiceTo`` when read). ``nested`` names the model
    of an array of child records written inline on create (``SalesInvoiceLines``), and
    ``nested_parent`` the child property pointing back to the parent (not sent inline).
    ``select`` lists extra Exact properties a computed field needs in ``$select``.
    """

    unified: str
    exact: str | None
    type: JsonType
    read: str = "identity"
    write: str | None = "identity"
    required_on_create: bool = False
    writable: bool = True
    description: str = ""
    create_exact: str | None = None
    create_only: bool = False
    nested: str | None = None
    nested_parent: str | None = None
    select: tuple[str, ...] = ()

    @property
    def is_writable(self) -> bool:
        return self.writable and (self.write is not None or self.nested is not None)


@dataclass(frozen=True)
class Model:
    """A unified model: where Exact keeps it, how it is read, what may be done, its fields.

    ``exact_types`` lists every property of the Exact entity (not only the mapped ones) with
    its JSON type: custom ``field_mappings`` are checked against it. ``key_read`` converts the
    Exact key into ``id``; ``division_from`` takes ``division`` from a row property instead of
    the division that was queried (a workspace *is* a division). ``sync_select`` is added to
    ``$select`` on the sync endpoint only (the invoice rows also carry their lines);
    ``sync_unserved`` names properties of the entity its sync endpoint does not serve (never
    in the sync ``$select``, so null on records read from it).
    """

    name: str
    model_id: str
    entity: str
    key: str
    read_path: str
    read_kind: ReadKind
    deleted_type: int | None
    operations: frozenset[str]
    fields: tuple[FieldMap, ...]
    natural_key: str | None
    scope: str
    description: str
    exact_types: Mapping[str, JsonType]
    key_read: str = "guid"
    division_from: str | None = None
    sync_select: tuple[str, ...] = ()
    write_refusal: str = ""
    sync_unserved: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown_ops = self.operations - OPERATIONS
        if unknown_ops:
            raise ValueError(f"{self.name}: unknown operations {sorted(unknown_ops)}")
        for f in self.fields:
            if f.read not in READERS and f.read not in SPECIAL_READERS:
                raise ValueError(f"{self.name}.{f.unified}: unknown reader {f.read!r}")
            if f.write is not None and f.write not in WRITERS:
                raise ValueError(f"{self.name}.{f.unified}: unknown writer {f.write!r}")
            for name in (f.exact if f.read not in SPECIAL_READERS else None, f.create_exact):
                if name is not None and name not in self.exact_types:
                    raise ValueError(f"{self.name}.{f.unified}: {name} is not an Exact property")

    @property
    def exact_fields(self) -> frozenset[str]:
        return frozenset(self.exact_types)

    @property
    def has_timestamp(self) -> bool:
        return self.read_kind == "sync"

    @property
    def carries_deletions(self) -> bool:
        """Exact logs this model's deletions (sync/Deleted), so records may carry
        ``_sdc_deleted_at``; users and workspaces never do."""
        return self.deleted_type is not None

    @property
    def builtin_properties(self) -> tuple[str, ...]:
        common = tuple(p for p in COMMON_PROPERTIES
                       if p != DELETED_AT or self.carries_deletions)
        extra = (TIMESTAMP_PROPERTY,) if self.has_timestamp else ()
        return (*common, *extra, *(f.unified for f in self.fields))

    def field(self, unified: str) -> FieldMap:
        for f in self.fields:
            if f.unified == unified:
                return f
        raise KeyError(unified)


MODELS: dict[str, Model] = {}
"""Every unified model by snake_case name; filled by the model modules on import."""


def register(model: Model) -> Model:
    MODELS[model.name] = model
    return model


def get_model(name: str) -> Model:
    """A model by stream name (``generic_contact``) or model id (``genericContact``)."""
    wanted = name.strip()
    for model in MODELS.values():
        if wanted in (model.name, model.model_id):
            return model
    known = ", ".join(sorted(MODELS))
    raise ValidationError(f"Unknown unified model '{name}'. Known models: {known}.")


# ---------------------------------------------------------------------------------------------
# Exact → unified
# ---------------------------------------------------------------------------------------------


def _read(model: Model, f: FieldMap, value: Any) -> Any:
    if value is None:
        return None
    try:
        return READERS[f.read](value)
    except (TypeError, ValueError, MalformedResponseError) as exc:
        raise MalformedResponseError(
            f"{model.name}.{f.unified}: cannot read Exact {f.exact}={value!r}: {exc}"
        ) from None


def to_unified(
    model: Model,
    exact_row: Mapping[str, Any],
    *,
    division: int,
    extra_fields: Iterable[FieldMap] = (),
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One Exact row → one unified record (computed fields are left ``None``)."""
    return row_reader(model, tuple(extra_fields))(exact_row, division, context)


RowReader = Callable[[Mapping[str, Any], int, Mapping[str, Any] | None], dict[str, Any]]


_ROW_READERS: dict[tuple[int, tuple[FieldMap, ...]], tuple[Model, RowReader]] = {}


def row_reader(model: Model, extra_fields: tuple[FieldMap, ...] = ()) -> RowReader:
    """:func:`_compile` once per (model, custom fields)."""
    found = _ROW_READERS.get((id(model), extra_fields))
    if found is None or found[0] is not model:
        found = _ROW_READERS[(id(model), extra_fields)] = (model, _compile(model, extra_fields))
    return found[1]


def _compile(model: Model, extra_fields: tuple[FieldMap, ...]) -> RowReader:
    """The model's table compiled once into one function per (model, custom fields).

    The function is generated from the table (as ``dataclasses`` and ``namedtuple`` generate
    theirs): one dict display reading every property straight, with the common converters
    (trim, guid) inlined for strings, so a record costs no per-field loop, lookup or call.
    It reads every row the way :func:`_to_unified` spells out; a value a converter refuses
    is read again by :func:`_to_unified`, which raises the error naming the model, property
    and value.
    """
    identity = READERS["identity"]
    names: dict[str, Any] = {
        "MalformedResponseError": MalformedResponseError, "fallback": _to_unified,
        "model": model, "extra_fields": extra_fields, "read_key": READERS[model.key_read],
        "read_instant": READERS["exact_datetime"], "str": str,
    }

    def constant(value: Any) -> str:
        name = f"c{len(names)}"
        names[name] = value
        return name

    fields = (*model.fields, *extra_fields)
    items = ['"id": read_key(key)']
    if model.division_from:
        items.append(f'"division": division if (own := get({model.division_from!r})) is None '
                     "else int(own)")
    else:
        items.append('"division": division')
    items.append('"created_at": None if (v := get("Created")) is None else read_instant(v)')
    items.append('"updated_at": None if (v := get("Modified")) is None else read_instant(v)')
    if model.carries_deletions:
        items.append(f"{DELETED_AT!r}: None")
    if model.has_timestamp:
        items.append(f'{TIMESTAMP_PROPERTY!r}: None if (v := get("Timestamp")) is None '
                     "else int(v)")
    uses_context = False
    for f in fields:
        if f.read == "context":
            uses_context = True
            value = f"given({f.unified!r})"
        elif f.read == "computed":
            value = "[]" if f.nested else "None"
        else:
            get = f"(v := get({(f.exact or '')!r}))"
            reader = READERS[f.read]
            if reader is identity:
                value = f"get({(f.exact or '')!r})"
            elif f.read == "trim":  # _trim, inlined for a str
                value = (f"v.strip() if {get}.__class__ is str else "
                         f"(None if v is None else {constant(reader)}(v))")
            elif f.read == "guid":  # _guid, inlined for a str
                value = (f"v.strip().lower() if {get}.__class__ is str else "
                         f"(None if v is None else {constant(reader)}(v))")
            else:
                value = f"None if {get} is None else {constant(reader)}(v)"
        items.append(f"{f.unified!r}: {value}")
    source = "\n".join([
        "def read(row, division, context):",
        "    get = row.get",
        f"    key = get({model.key!r})",
        "    if key is None:",
        f"        raise MalformedResponseError({f'{model.name}: Exact row has no {model.key}'!r})",
        "    try:",
        *(["        given = (context or {}).get"] if uses_context else []),
        "        return {",
        *(f"            {item}," for item in items),
        "        }",
        "    except (TypeError, ValueError, MalformedResponseError):",
        "        return fallback(model, row, division=division, extra_fields=extra_fields,",
        "                        context=context)",
    ])
    exec(compile(source, f"<row reader of {model.name}>", "exec"), names)
    read: RowReader = names["read"]
    return read


def _to_unified(
    model: Model,
    exact_row: Mapping[str, Any],
    *,
    division: int,
    extra_fields: Iterable[FieldMap] = (),
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The table read field by field; raises naming the value a converter refuses."""
    key = exact_row.get(model.key)
    if key is None:
        raise MalformedResponseError(f"{model.name}: Exact row has no {model.key}")
    key_field = FieldMap("id", model.key, "string", read=model.key_read)
    out: dict[str, Any] = {"id": _read(model, key_field, key)}
    own_division = exact_row.get(model.division_from) if model.division_from else None
    out["division"] = int(own_division) if own_division is not None else division
    out["created_at"] = _read(model, _CREATED, exact_row.get("Created"))
    out["updated_at"] = _read(model, _MODIFIED, exact_row.get("Modified"))
    if model.carries_deletions:
        out[DELETED_AT] = None
    if model.has_timestamp:
        stamp = exact_row.get("Timestamp")
        out[TIMESTAMP_PROPERTY] = None if stamp is None else int(stamp)
    for f in (*model.fields, *extra_fields):
        if f.read == "computed":
            out[f.unified] = [] if f.nested else None
        elif f.read == "context":
            out[f.unified] = (context or {}).get(f.unified)
        else:
            out[f.unified] = _read(model, f, exact_row.get(f.exact or ""))
    return out


_CREATED = FieldMap("created_at", "Created", "date-time", read="exact_datetime", writable=False)
_MODIFIED = FieldMap("updated_at", "Modified", "date-time", read="exact_datetime", writable=False)


# ---------------------------------------------------------------------------------------------
# unified → Exact
# ---------------------------------------------------------------------------------------------


def refuse_operation(model: Model, operation: str) -> None:
    """Raise a clear :class:`ValidationError` when ``model`` does not allow ``operation``."""
    if operation in model.operations:
        return
    why = f" {model.write_refusal}" if model.write_refusal else ""
    allowed = ", ".join(sorted(model.operations))
    raise ValidationError(
        f"{model.name} does not support '{operation}' (allowed: {allowed}).{why}"
    )


def to_exact(
    model: Model,
    record: Mapping[str, Any],
    *,
    operation: WriteOperation,
    extra_fields: Iterable[FieldMap] = (),
    strict: bool = True,
    exempt: Collection[str] = (),
) -> dict[str, Any]:
    """A unified record → the body of a POST (``create``) or a partial PUT (``update``).

    Only properties present in ``record`` are sent. The common properties (``id``,
    ``division``, timestamps, ``_sdc_deleted_at``) are never sent. With ``strict`` (the admin
    CLI), an unknown or read-only property raises :class:`ValidationError`; without it (the
    target, whose records carry read-only columns from the tap) such properties are dropped.
    ``exempt`` lists properties whose required-on-create check is skipped.
    """
    refuse_operation(model, operation)
    fields = {f.unified: f for f in (*model.fields, *extra_fields)}
    body: dict[str, Any] = {}
    for prop, value in record.items():
        if prop in COMMON_PROPERTIES or prop == TIMESTAMP_PROPERTY:
            continue
        f = fields.get(prop)
        problem = _write_problem(model, f, prop, operation)
        if problem:
            if strict:
                raise ValidationError(problem)
            continue
        if f is None or (value is None and operation == "create"):
            continue
        exact_name = (f.create_exact if operation == "create" else None) or f.exact or f.unified
        body[exact_name] = _write(model, f, value, strict)
    if operation == "create":
        missing = [
            f.unified
            for f in fields.values()
            if f.required_on_create and record.get(f.unified) is None and f.unified not in exempt
        ]
        if missing:
            names = ", ".join(f"'{m}'" for m in missing)
            raise ValidationError(f"{model.name}: {names} required to create a record")
    return body


def _write_problem(model: Model, f: FieldMap | None, prop: str, operation: str) -> str | None:
    if f is None:
        return f"{model.name} has no property '{prop}'"
    if not f.is_writable:
        return f"{model.name}.{prop} is read-only in Exact Online and cannot be written"
    if f.create_only and operation != "create":
        return f"{model.name}.{prop} can only be set when the record is created"
    return None


def _write(model: Model, f: FieldMap, value: Any, strict: bool) -> Any:
    if value is None:
        return None
    if f.nested:
        child = get_model(f.nested)
        if not isinstance(value, list) or not all(isinstance(i, Mapping) for i in value):
            raise ValidationError(f"{model.name}.{f.unified} must be a list of objects")
        exempt = (f.nested_parent,) if f.nested_parent else ()
        return [
            to_exact(
                child,
                {k: v for k, v in item.items() if k != f.nested_parent},
                operation="create",
                strict=strict,
                exempt=exempt,
            )
            for item in value
        ]
    try:
        return WRITERS[f.write or "identity"](value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{model.name}.{f.unified}: invalid value {value!r}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# $select
# ---------------------------------------------------------------------------------------------


def exact_select(
    model: Model,
    unified_properties: Iterable[str] | None = None,
    extra_fields: Iterable[FieldMap] = (),
    *,
    sync: bool | None = None,
) -> list[str]:
    """The ``$select`` list for the chosen unified properties (all when ``None``).

    Always includes the key, ``Created``/``Modified`` and, on the sync endpoint (default: when
    the model is read from one), ``Timestamp``.
    """
    on_sync = model.has_timestamp if sync is None else sync
    fields = (*model.fields, *extra_fields)
    if unified_properties is not None:
        wanted = set(unified_properties)
        known = {f.unified for f in fields} | set(model.builtin_properties)
        unknown = sorted(wanted - known)
        if unknown:
            raise ValidationError(f"{model.name} has no properties {', '.join(unknown)}")
        fields = tuple(f for f in fields if f.unified in wanted)
    names = [model.key]
    if model.division_from:
        names.append(model.division_from)
    if on_sync:
        names.append("Timestamp")
    names += [n for n in ("Created", "Modified") if n in model.exact_types]
    for f in fields:
        if f.exact and not f.nested and f.read not in SPECIAL_READERS:
            names.append(f.exact)
        names.extend(f.select)
    if on_sync:
        names.extend(model.sync_select)
        names = [n for n in names if n not in model.sync_unserved]
    return list(dict.fromkeys(names))


__all__ = [
    "ALL_OPERATIONS",
    "AUDIT_SPEC",
    "COMMON_PROPERTIES",
    "DELETED_AT",
    "EXACT_TZ",
    "MODELS",
    "READERS",
    "READ_OPERATIONS",
    "TIMESTAMP_PROPERTY",
    "WRITERS",
    "FieldMap",
    "JsonType",
    "Model",
    "ReadKind",
    "WriteOperation",
    "default_read_write",
    "exact_fields_spec",
    "exact_instant",
    "exact_select",
    "get_model",
    "parse_rfc3339",
    "refuse_operation",
    "register",
    "row_reader",
    "to_exact",
    "to_unified",
    "utc_to_exact_local",
]
