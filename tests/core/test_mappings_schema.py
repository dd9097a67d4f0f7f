"""JSON Schemas come from the mapping tables and accept the records the mappings produce."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest

from exact_online_core.mappings import (
    MODELS,
    custom_stream_schema,
    field_maps,
    invoice_to_unified,
    json_schema,
    parse_custom_streams,
    parse_field_mappings,
    to_unified,
)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_schema_is_valid_draft_07(name: str) -> None:
    jsonschema.Draft7Validator.check_schema(json_schema(name))


def test_properties_are_nullable_except_id_and_division() -> None:
    schema = json_schema("generic_company")
    props = schema["properties"]
    assert props["id"]["type"] == "string" and props["division"]["type"] == "integer"
    assert schema["required"] == ["id", "division"]
    nullable = [p for p, s in props.items() if p not in ("id", "division")]
    assert all("null" in props[p]["type"] for p in nullable)


def test_datetimes_have_date_time_format() -> None:
    props = json_schema("accounting_invoice")["properties"]
    for name in ("created_at", "updated_at", "_sdc_deleted_at", "issued_at", "due_at", "paid_at"):
        assert props[name]["format"] == "date-time"


def test_invoice_line_items_are_line_item_objects() -> None:
    items = json_schema("accountingInvoice")["properties"]["line_items"]["items"]
    assert items["type"] == "object"
    assert {"invoice_id", "item_id", "price_per_unit"} <= set(items["properties"])


def test_schema_contains_mapped_custom_fields() -> None:
    mappings = parse_field_mappings(
        {"generic_company": {"kvk": "ChamberOfCommerce"},
         "accounting_invoice_item": {"launch": "FreeDateField_01"}}
    )
    company = json_schema("generic_company", field_maps(mappings, "generic_company"))
    item = json_schema("accounting_invoice_item", field_maps(mappings, "accounting_invoice_item"))
    assert company["properties"]["kvk"]["type"] == ["string", "null"]
    assert item["properties"]["launch"]["format"] == "date-time"


def test_mapped_records_validate_against_their_schema() -> None:
    mappings = parse_field_mappings({"generic_company": {"kvk": "ChamberOfCommerce"}})
    extra = field_maps(mappings, "generic_company")
    row = {"ID": "40D4C49D-1790-4A13-B890-42909AF24348", "Code": "                25",
           "Name": "Acme", "Country": "NL ", "ChamberOfCommerce": "1234",
           "Created": "/Date(1782404464260)/", "Modified": "/Date(1782404464260)/",
           "Timestamp": 7}
    record = to_unified(MODELS["generic_company"], row, division=100001, extra_fields=extra)
    schema = json_schema("generic_company", extra)
    jsonschema.validate(record, schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_invoice_record_validates_against_its_schema() -> None:
    invoice = "A07B5588-4D7D-4872-88F9-30B2D256440D"
    header = {"Timestamp": 4, "InvoiceID": invoice, "ID": invoice, "LineNumber": 0,
              "AmountFC": 1, "VATAmountFC": 0, "AmountFCExclVat": 1, "Status": 20,
              "Type": 8023, "Currency": "EUR", "InvoiceTo": "A58C29D9-EF92-40F1-B817-31B36990898C",
              "InvoiceDate": "/Date(1723420800000)/", "DueDate": "/Date(1723420800000)/",
              "Journal": "70", "InvoiceNumber": None, "Created": "/Date(1782405060220)/",
              "Modified": "/Date(1782405060240)/"}
    lines = [{"Timestamp": 3, "InvoiceID": invoice, "ID": "19D4C9B5-C888-4404-9B28-F454E97F74CE",
              "LineNumber": 1, "Item": "918004E1-AB42-4B76-A196-FD57B44A3D4C", "Quantity": 1,
              "NetPrice": 1, "AmountFC": 1, "VATAmountFC": 0}]
    record = invoice_to_unified(header, lines, None, division=124132,
                                now=datetime(2026, 6, 25, tzinfo=UTC))
    jsonschema.validate(record, json_schema("accounting_invoice"),
                        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_custom_stream_schema_is_permissive_and_keyed_by_division() -> None:
    (stream,) = parse_custom_streams([{
        "name": "projects", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
        "select": ["ID", "Code", "Timestamp"], "replication_key": "Timestamp",
    }])
    schema = custom_stream_schema(stream)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["required"] == ["division", "ID"]
    jsonschema.validate({"division": 1, "ID": "x", "Code": None, "Timestamp": 5}, schema)
