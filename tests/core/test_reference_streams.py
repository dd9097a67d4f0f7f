"""Custom streams typed by Exact's API reference: one config line gives select, key, bookmark,
schema; unknown endpoints and properties are named with the closest ones; writes are checked."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from exact_online_core.errors import ConfigError, MalformedResponseError, ValidationError
from exact_online_core.mappings import custom_stream_schema, parse_custom_streams
from exact_online_core.readers import custom_record
from exact_online_core.reference_schema import check_write, snake_case
from exact_online_reference import reference

from .test_api import make_api


def one(entry: dict[str, Any]) -> Any:
    (stream,) = parse_custom_streams([entry])
    return stream


def test_one_line_sync_stream_reads_every_property_by_timestamp_keyed_by_id() -> None:
    stream = one({"name": "projects", "endpoint": "sync/Project/Projects"})
    endpoint = reference().endpoint("sync/Project/Projects")
    assert endpoint is not None
    assert stream.primary_keys == ("ID",) and stream.replication_key == "Timestamp"
    assert set(stream.select) == set(endpoint.names) - {"Division"}
    assert stream.key_properties == ("division", "ID")


def test_sync_header_endpoints_are_keyed_by_the_header_key() -> None:
    assert one({"name": "q", "endpoint": "sync/CRM/QuotationHeaders"}).primary_keys == (
        "QuotationID",)


def test_plain_endpoint_with_modified_is_read_by_a_modified_window() -> None:
    stream = one({"name": "journals", "endpoint": "financial/Journals"})
    assert (stream.primary_keys, stream.replication_key) == (("ID",), "Modified")


def test_plain_endpoint_without_modified_is_read_in_full() -> None:
    stream = one({"name": "maps", "endpoint": "financial/GLAccountClassificationMappings"})
    assert stream.replication_key is None


def test_select_narrows_the_stream_and_keeps_key_and_bookmark() -> None:
    stream = one({"name": "projects", "endpoint": "sync/Project/Projects",
                  "select": ["Code"]})
    assert stream.select == ("Code", "ID", "Timestamp")


def test_schema_types_come_from_the_edm_types() -> None:
    stream = one({"name": "entries", "endpoint": "purchaseentry/PurchaseEntries",
                  "select": ["EntryID", "EntryDate", "AmountDC", "EntryNumber", "Reversal",
                             "PurchaseEntryLines", "Description"]})
    props = custom_stream_schema(stream)["properties"]
    assert props["EntryID"]["type"] == "string" and props["EntryID"]["format"] == "uuid"
    assert props["EntryDate"]["format"] == "date-time"
    assert props["AmountDC"]["type"] == ["number", "null"]
    assert props["EntryNumber"]["type"] == ["integer", "null"]
    assert props["Reversal"]["type"] == ["boolean", "null"]
    assert props["Description"]["type"] == ["string", "null"]
    lines = props["PurchaseEntryLines"]
    assert lines["type"] == ["array", "null"]
    assert lines["items"]["properties"]["AmountFC"]["type"] == ["number", "null"]


def test_records_are_typed_and_validate_against_the_schema() -> None:
    stream = one({"name": "balances", "endpoint": "financial/ReportingBalance",
                  "select": ["ID", "Amount", "GLAccount", "ReportingYear"]})
    row = {"ID": "1001", "Amount": 12, "GLAccount": "0208e749-2603-5193-b9d7-e7ee6dda0820",
           "ReportingYear": 2026}
    record = custom_record(row, 100001, stream)
    assert record["ID"] == 1001  # Edm.Int64 arrives as a JSON string
    jsonschema.validate(record, custom_stream_schema(stream),
                        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_an_expanded_collection_with_a_nested_next_and_no_way_to_follow_it_is_refused() -> None:
    stream = one({"name": "entries", "endpoint": "purchaseentry/PurchaseEntries",
                  "select": ["EntryID", "PurchaseEntryLines"]})
    row = {"EntryID": "0208e749-2603-5193-b9d7-e7ee6dda0820", "PurchaseEntryLines": {
        "results": [{"ID": "1208e749-2603-5193-b9d7-e7ee6dda0820"}],
        "__next": "https://start.exactonline.nl/api/v1/1/purchaseentry/x?$skiptoken=1"}}
    with pytest.raises(MalformedResponseError, match=r"entries: the expanded "
                                                     r"PurchaseEntryLines continues"):
        custom_record(row, 100001, stream)


def test_unknown_endpoint_is_named_with_the_closest_endpoints() -> None:
    with pytest.raises(ConfigError, match=r"has no endpoint 'sync/Project/Project'; closest: "
                                          r"sync/Project/Projects") as caught:
        one({"name": "projects", "endpoint": "sync/Project/Project"})
    assert caught.value.setting == "custom_streams" and "stream 'projects'" in str(caught.value)


def test_unknown_select_property_is_named_with_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"names Descripton, which Exact's "
                                          r"sync/Project/Projects does not have \(closest: "
                                          r"Description"):
        one({"name": "projects", "endpoint": "sync/Project/Projects",
             "select": ["ID", "Descripton"]})


def test_unknown_write_endpoint_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="'write_endpoint' project/Projekts is not a writable"):
        one({"name": "projects", "endpoint": "sync/Project/Projects",
             "write_endpoint": "project/Projekts"})


WRITABLE = [{"name": "projects", "endpoint": "sync/Project/Projects",
             "write_endpoint": "project/Projects"}]


def test_create_with_a_property_post_does_not_accept_is_refused_before_any_call() -> None:
    api, fake = make_api(custom_streams=WRITABLE)
    with pytest.raises(ValidationError, match="project/Projects does not accept Created on POST"):
        api.create("projects", 100001, {"Code": "P", "Description": "d", "Type": 2,
                                        "Created": "2026-01-01T00:00:00Z"}, strict=True)
    assert fake.asked == []


def test_create_with_a_property_the_endpoint_lacks_is_refused_before_any_call() -> None:
    api, fake = make_api(custom_streams=WRITABLE)
    with pytest.raises(ValidationError, match="project/Projects has no property Colour"):
        api.create("projects", 100001, {"Code": "P", "Description": "d", "Type": 2,
                                        "Colour": "red"})
    assert fake.asked == []


def test_target_writes_leave_out_the_read_only_columns_a_tap_record_carries() -> None:
    body = check_write("projects", "project/Projects",
                       {"Code": "P", "Description": "d", "Type": 2, "Modified": None,
                        "Created": "2026-01-01T00:00:00Z"}, "POST", strict=False)
    assert body == {"Code": "P", "Description": "d", "Type": 2}


def test_create_without_a_required_property_is_refused_before_any_call() -> None:
    api, fake = make_api(custom_streams=WRITABLE)
    with pytest.raises(ValidationError, match="requires Type to create a record"):
        api.create("projects", 100001, {"Code": "P", "Description": "d"})
    assert fake.asked == []


def test_update_with_a_read_only_property_is_refused_before_any_call() -> None:
    api, fake = make_api(custom_streams=WRITABLE)
    with pytest.raises(ValidationError, match="does not accept Created on PUT"):
        api.update("projects", 100001, "0208e749-2603-5193-b9d7-e7ee6dda0820",
                   {"Created": "2026-01-01T00:00:00Z"}, strict=True)
    assert fake.asked == []


@pytest.mark.parametrize(("exact", "snake"), [
    ("ID", "id"), ("GLAccountCode", "gl_account_code"), ("VATAmountFC", "vat_amount_fc"),
    ("TransactionLines", "transaction_lines"), ("AmountDC", "amount_dc"),
    ("CustomerPOnumber", "customer_p_onumber"), ("Class_01", "class_01"),
])
def test_the_naming_rule_is_snake_case_of_exacts_name(exact: str, snake: str) -> None:
    assert snake_case(exact) == snake


def test_a_catalog_selection_narrows_the_select_but_keeps_the_key_and_the_bookmark() -> None:
    stream = one({"name": "journals", "endpoint": "financial/Journals"})
    narrowed = stream.narrowed({"Code", "division"})
    assert narrowed.select == ("ID", "Code", "Modified")
    assert stream.narrowed(None) is stream
