"""RecordPlanner and resolve_stream: operation, key, division, validation, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_core.mappings import parse_custom_streams, parse_field_mappings
from target_exact_online.validation import (
    RecordInvalid,
    RecordPlanner,
    StreamRefusedError,
    resolve_stream,
)

COMPANY = "0f0e0d0c-0000-4000-8000-000000000001"
SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": True}


def planner(stream: str = "generic_company", *, external_id: str | None = None,
            mappings: Any = None, custom: Any = None) -> RecordPlanner:
    spec = resolve_stream(stream, parse_field_mappings(mappings), parse_custom_streams(custom))
    return RecordPlanner(spec, SCHEMA, external_id=external_id,
                         default_division=lambda: 100001, allowed_divisions=[100001, 100002])


@pytest.mark.parametrize("name", ["generic_company", "genericCompany"])
def test_model_and_camelcase_alias_resolve_to_the_model(name: str) -> None:
    assert resolve_stream(name, {}, ()).name == "generic_company"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        pytest.param("generic_user", "no write API", id="user"),
        pytest.param("genericWorkspace", "GET only", id="workspace"),
        pytest.param("orders", "not something this target can write", id="unknown"),
    ],
)
def test_streams_without_writes_are_refused_with_the_reason(name: str, why: str) -> None:
    with pytest.raises(StreamRefusedError, match=why):
        resolve_stream(name, {}, ())


def test_custom_stream_needs_a_write_endpoint() -> None:
    custom = [{"name": "projects", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
               "select": ["ID", "Code"]}]
    with pytest.raises(StreamRefusedError, match="write_endpoint"):
        resolve_stream("projects", {}, parse_custom_streams(custom))


@pytest.mark.parametrize(
    ("record", "operation"),
    [
        pytest.param({"name": "A"}, "create", id="no-id"),
        pytest.param({"id": "", "name": "A"}, "create", id="empty-id-from-csv"),
        pytest.param({"id": COMPANY, "name": "A"}, "update", id="id"),
        pytest.param({"id": COMPANY, "_sdc_deleted_at": "2024-01-01T00:00:00Z"}, "delete",
                     id="deleted"),
    ],
)
def test_operation_follows_id_and_sdc_deleted_at(record: dict[str, Any], operation: str) -> None:
    assert planner().plan(record).operation == operation


def test_update_sends_only_the_present_writable_properties() -> None:
    plan = planner().plan({"id": COMPANY, "division": 100002, "name": "B",
                           "created_at": "2024-01-01T00:00:00Z", "exact_timestamp": 5})
    assert plan.clean == {"name": "B"}
    assert plan.body == {"Name": "B"}
    assert plan.division == 100002


def test_division_defaults_and_must_be_configured() -> None:
    assert planner().plan({"name": "A"}).division == 100001
    with pytest.raises(RecordInvalid, match="not one of the configured divisions"):
        planner().plan({"name": "A", "division": 999})


def test_key_is_external_id_else_a_stable_hash_without_sdc_fields() -> None:
    p = planner()
    a = p.plan({"name": "A", "_sdc_extracted_at": "x"}).input_key
    assert a == p.plan({"name": "A"}).input_key
    assert a.startswith("sha256:")
    assert planner(external_id="ref").plan({"name": "A", "ref": "R1"}).input_key == "ext:R1"


def test_every_problem_of_a_bad_record_is_reported_together() -> None:
    with pytest.raises(RecordInvalid) as caught:
        planner("generic_contact").plan({"first_name": 3, "company_id": "not-a-guid"})
    message = str(caught.value)
    assert "first_name" in message
    assert "company_id 'not-a-guid' is not a GUID reference" in message


def test_required_on_create() -> None:
    with pytest.raises(RecordInvalid, match="'name'"):
        planner().plan({"code": "X"})


def test_csv_text_is_coerced_to_the_model_types() -> None:
    plan = planner("accounting_invoice_item").plan(
        {"id": "", "division": "100001", "name": "N", "code": "C", "price": "12.50",
         "is_sales_item": "true"})
    assert plan.clean["price"] == 12.5
    assert plan.clean["is_sales_item"] is True
    assert plan.division == 100001


def test_mapped_custom_fields_are_written() -> None:
    p = planner(mappings={"generic_company": {"kvk": "ChamberOfCommerce"}})
    assert p.plan({"id": COMPANY, "kvk": "1234"}).body == {"ChamberOfCommerce": "1234"}


def test_invoice_create_nests_lines_without_computed_columns() -> None:
    plan = planner("accounting_invoice").plan({
        "customer_company_id": COMPANY, "journal": "70", "type": "invoice",
        "status": "draft", "total_amount": 5,
        "line_items": [{"item_id": COMPANY, "quantity": 2, "price_per_unit": 3.5,
                        "total_amount": 7, "line_number": 1}],
    })
    lines = plan.body["SalesInvoiceLines"]
    assert lines == [{"Item": COMPANY, "Quantity": 2.0, "NetPrice": 3.5}]
    assert plan.body["OrderedBy"] == COMPANY


def test_invoice_update_keeps_the_full_line_set_with_line_ids() -> None:
    plan = planner("accounting_invoice").plan({
        "id": COMPANY, "note": "n", "type": "invoice", "status": "paid",
        "line_items": [{"id": COMPANY, "item_id": COMPANY, "total_amount": 3}]})
    assert plan.clean == {"note": "n", "line_items": [{"id": COMPANY, "item_id": COMPANY}]}
    assert plan.body == {"Remarks": "n"}


def test_custom_stream_record_is_raw_exact_properties() -> None:
    custom = [{"name": "projects", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
               "select": ["ID", "Code", "Description", "Timestamp"],
               "write_endpoint": "project/Projects"}]
    p = planner("projects", custom=custom)
    plan = p.plan({"ID": COMPANY, "division": 100001, "Description": "D", "Timestamp": 9})
    assert (plan.operation, plan.record_id, plan.clean) == ("update", COMPANY,
                                                            {"Description": "D"})
