"""The unified models and their Exact Online mapping, as data: import from here."""

from __future__ import annotations

from exact_online_core.mappings.accounting import (
    ACCOUNTING_INVOICE,
    ACCOUNTING_INVOICE_ITEM,
    ACCOUNTING_INVOICE_LINE_ITEM,
)
from exact_online_core.mappings.base import (
    COMMON_PROPERTIES,
    DELETED_AT,
    EXACT_TZ,
    MODELS,
    TIMESTAMP_PROPERTY,
    FieldMap,
    JsonType,
    Model,
    exact_instant,
    exact_select,
    get_model,
    refuse_operation,
    row_reader,
    to_exact,
    to_unified,
    utc_to_exact_local,
)
from exact_online_core.mappings.crm import GENERIC_COMPANY, GENERIC_CONTACT
from exact_online_core.mappings.custom import (
    CUSTOM_STREAMS,
    CustomStream,
    FieldMapping,
    field_maps,
    parse_custom_streams,
    parse_field_mappings,
)
from exact_online_core.mappings.invoices import (
    RECEIVABLE_SELECT,
    check_invoice_editable,
    group_receivables,
    invoice_balance,
    invoice_status,
    invoice_to_exact,
    invoice_to_unified,
)
from exact_online_core.mappings.organization import GENERIC_USER, GENERIC_WORKSPACE
from exact_online_core.mappings.schema import custom_stream_schema, json_schema

__all__ = [
    "ACCOUNTING_INVOICE",
    "ACCOUNTING_INVOICE_ITEM",
    "ACCOUNTING_INVOICE_LINE_ITEM",
    "COMMON_PROPERTIES",
    "CUSTOM_STREAMS",
    "DELETED_AT",
    "EXACT_TZ",
    "GENERIC_COMPANY",
    "GENERIC_CONTACT",
    "GENERIC_USER",
    "GENERIC_WORKSPACE",
    "MODELS",
    "RECEIVABLE_SELECT",
    "TIMESTAMP_PROPERTY",
    "CustomStream",
    "FieldMap",
    "FieldMapping",
    "JsonType",
    "Model",
    "check_invoice_editable",
    "custom_stream_schema",
    "exact_instant",
    "exact_select",
    "field_maps",
    "get_model",
    "group_receivables",
    "invoice_balance",
    "invoice_status",
    "invoice_to_exact",
    "invoice_to_unified",
    "json_schema",
    "parse_custom_streams",
    "parse_field_mappings",
    "refuse_operation",
    "row_reader",
    "to_exact",
    "to_unified",
    "utc_to_exact_local",
]
