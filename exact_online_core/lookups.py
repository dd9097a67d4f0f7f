"""Unified property = value lookups as typed OData filters (natural keys, CLI searches)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exact_online_core import odata
from exact_online_core.errors import ValidationError
from exact_online_core.mappings import FieldMap, Model, utc_to_exact_local
from exact_online_core.mappings.converters import WRITERS, parse_rfc3339
from exact_online_core.writers import key_literal


def find_filter(
    model: Model, extra: Sequence[FieldMap], prop: str, value: Any
) -> odata.Expr:
    """``trim(Code) eq '25'``, ``InvoiceTo eq guid'…'``, … for one unified property."""
    if prop == "id":
        return odata.eq(model.key, key_literal(value))
    try:
        f = next(f for f in (*model.fields, *extra) if f.unified == prop)
    except StopIteration:
        raise ValidationError(f"{model.name} has no property '{prop}'") from None
    if prop in ("created_at", "updated_at"):
        instant = parse_rfc3339(value)
        return odata.eq(f.exact or "", odata.datetime_(utc_to_exact_local(instant)))
    if f.exact is None or f.read in ("computed", "context") or f.nested:
        raise ValidationError(f"{model.name}.{prop} is computed; it cannot be searched")
    name = f"trim({f.exact})" if f.read == "trim" else f.exact
    if value is None:
        return odata.eq(name, odata.null())
    literal: odata.Literal
    if f.read == "guid":
        literal = odata.guid(str(value))
    elif f.read == "invoice_type":
        literal = odata.integer(int(WRITERS["invoice_type"](value)))
    elif f.type == "integer" or f.read == "int_to_str":
        literal = odata.integer(int(value))
    elif f.type == "number":
        literal = odata.Literal(repr(float(value)))
    elif f.type == "boolean":
        literal = odata.boolean(bool(value))
    elif f.type == "date-time":
        literal = odata.datetime_(parse_rfc3339(value).replace(tzinfo=None))
    else:
        literal = odata.string(str(value).strip() if f.read == "trim" else str(value))
    return odata.eq(name, literal)


def raw_literal(value: Any) -> odata.Literal:
    """A custom stream's raw value as a literal (bool, int, float, GUID, else string)."""
    if isinstance(value, bool):
        return odata.boolean(value)
    if isinstance(value, int):
        return odata.integer(value)
    if isinstance(value, float):
        return odata.Literal(repr(value))
    return key_literal(value)

