"""field_mappings and custom_streams: valid config becomes typed columns, bad config is named."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_core.errors import ConfigError
from exact_online_core.mappings import (
    GENERIC_COMPANY,
    CustomStream,
    FieldMapping,
    exact_select,
    field_maps,
    get_model,
    parse_custom_streams,
    parse_field_mappings,
    to_exact,
    to_unified,
)

MAPPINGS = {
    "generic_company": {
        "loyalty_class": "Classification1",
        "kvk": {"exact": "ChamberOfCommerce", "type": "string"},
    },
    "accountingInvoiceItem": {"colour": "FreeTextField_01", "weight": "FreeNumberField_02"},
}


def test_field_mappings_parse_into_typed_mappings_keyed_by_stream_name() -> None:
    parsed = parse_field_mappings(MAPPINGS)
    assert parsed["generic_company"] == (
        FieldMapping("generic_company", "loyalty_class", "Classification1", "string"),
        FieldMapping("generic_company", "kvk", "ChamberOfCommerce", "string"),
    )
    assert [m.type for m in parsed["accounting_invoice_item"]] == ["string", "number"]


def test_mapped_fields_are_read_selected_and_written() -> None:
    extra = field_maps(parse_field_mappings(MAPPINGS), "generic_company")
    row = {"ID": "X", "Name": "Acme", "ChamberOfCommerce": "12345678",
           "Classification1": None, "Timestamp": 1}
    record = to_unified(GENERIC_COMPANY, row, division=1, extra_fields=extra)
    assert (record["kvk"], record["loyalty_class"]) == ("12345678", None)
    assert {"Classification1", "ChamberOfCommerce"} <= set(
        exact_select(GENERIC_COMPANY, None, extra)
    )
    body = to_exact(GENERIC_COMPANY, {"kvk": "87654321"}, operation="update", extra_fields=extra)
    assert body == {"ChamberOfCommerce": "87654321"}


def test_mapped_free_number_field_reads_as_number() -> None:
    extra = field_maps(parse_field_mappings(MAPPINGS), "accounting_invoice_item")
    row = {"ID": "X", "FreeNumberField_02": 3, "FreeTextField_01": "blue"}
    record = to_unified(get_model("accounting_invoice_item"), row, division=1, extra_fields=extra)
    assert (record["colour"], record["weight"]) == ("blue", 3.0)


def test_no_field_mappings_is_empty() -> None:
    assert parse_field_mappings(None) == {}


@pytest.mark.parametrize(
    ("config", "named"),
    [
        pytest.param({"generic_thing": {"a": "Name"}}, "generic_thing", id="unknown-model"),
        pytest.param({"generic_company": {"kvk": "KvkNumber"}}, "generic_company.kvk",
                     id="unknown-exact-property"),
        pytest.param({"generic_company": {"name": "TradeName"}}, "generic_company.name",
                     id="clash-with-builtin"),
        pytest.param({"generic_company": {"division": "Division"}}, "generic_company.division",
                     id="clash-with-common"),
        pytest.param({"generic_company": {"kvk": {"exact": "ChamberOfCommerce",
                                                  "type": "text"}}},
                     "generic_company.kvk", id="bad-type"),
        pytest.param({"generic_company": {"kvk": {"field": "ChamberOfCommerce"}}},
                     "generic_company.kvk", id="unknown-key"),
        pytest.param({"generic_company": {"Kvk": "ChamberOfCommerce"}}, "generic_company.Kvk",
                     id="not-snake-case"),
        pytest.param({"generic_company": {"nickname": "Name"}}, "generic_company.nickname",
                     id="exact-field-already-mapped"),
        pytest.param({"generic_contact": {"colour": "FreeTextField_01"}},
                     "generic_contact.colour", id="field-of-another-entity"),
        pytest.param({"generic_company": ["Name"]}, "generic_company", id="not-an-object"),
    ],
)
def test_bad_field_mapping_is_a_config_error_naming_model_and_property(
    config: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        parse_field_mappings(config)
    assert caught.value.setting == "field_mappings"


PROJECTS = {
    "name": "projects", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
    "replication_key": "Timestamp", "select": ["ID", "Code", "Description", "Timestamp"],
    "write_endpoint": "project/Projects",
}


def test_custom_stream_parses_into_a_typed_stream() -> None:
    (stream,) = parse_custom_streams([PROJECTS])
    assert stream == CustomStream(
        name="projects", endpoint="sync/Project/Projects", primary_keys=("ID",),
        select=("ID", "Code", "Description", "Timestamp"), replication_key="Timestamp",
        write_endpoint="project/Projects",
    )
    assert stream.key_properties == ("division", "ID")


def test_custom_stream_filters_are_joined_with_and() -> None:
    (stream,) = parse_custom_streams([{**PROJECTS, "filters": ["Type eq 2", "Code ne 'X'"]}])
    assert stream.filter == "(Type eq 2) and (Code ne 'X')"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"name": "My Projects"}, "entry 0", id="name-not-snake"),
        pytest.param({"endpoint": "/api/v1/1/project/Projects"}, "'endpoint'",
                     id="absolute-endpoint"),
        pytest.param({"endpoint": "https://start.exactonline.nl/x/y"}, "'endpoint'",
                     id="url-endpoint"),
        pytest.param({"primary_keys": []}, "'primary_keys'", id="no-primary-keys"),
        pytest.param({"primary_keys": ["Code2"]}, "primary key Code2", id="key-not-selected"),
        pytest.param({"select": "ID,Code"}, "'select'", id="select-not-list"),
        pytest.param({"replication_key": "Modified"}, "'replication_key'",
                     id="replication-key-not-selected"),
        pytest.param({"write_endpoint": "sync/Project/Projects"}, "'write_endpoint'",
                     id="write-to-sync"),
        pytest.param({"filters": [3]}, "'filters'", id="bad-filters"),
        pytest.param({"colour": "red"}, "unknown keys", id="unknown-key"),
    ],
)
def test_bad_custom_stream_is_a_config_error_naming_the_stream(
    change: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        parse_custom_streams([{**PROJECTS, **change}])
    assert caught.value.setting == "custom_streams"
    if "name" not in change:
        assert "stream 'projects'" in str(caught.value)


def test_custom_stream_names_must_be_unique() -> None:
    with pytest.raises(ConfigError, match="stream 'projects': the name is used twice"):
        parse_custom_streams([PROJECTS, PROJECTS])


def test_custom_stream_cannot_take_a_built_in_stream_name() -> None:
    with pytest.raises(ConfigError, match="built-in"):
        parse_custom_streams([{**PROJECTS, "name": "generic_company"}])
