"""The financial pack is data: one endpoint per stream, names by one rule, each endpoint the
cheapest Exact offers for its entity, typed and keyed by the reference."""

from __future__ import annotations

import pytest

from exact_online_core.errors import ConfigError
from exact_online_core.mappings import custom_stream_schema
from exact_online_core.pack import PACK, pack_streams, stream_name
from exact_online_core.reference_schema import Header, snake_case
from exact_online_reference import reference

from .test_api import make_api


def test_every_pack_endpoint_is_a_readable_endpoint_of_the_reference() -> None:
    for path in PACK:
        endpoint = reference().endpoint(path)
        assert endpoint is not None and "GET" in endpoint.methods, path


def test_stream_names_follow_the_one_rule_and_are_unique() -> None:
    names = [s.name for s in pack_streams()]
    assert names == [stream_name(p) for p in PACK]
    assert len(set(names)) == len(names)
    assert stream_name("sync/Financial/TransactionLines") == "exact_transaction_lines"


def test_each_stream_reads_the_cheapest_endpoint_of_its_entity() -> None:
    """sync/ where the reference has one for the entity, else bulk/, else plain."""
    by_entity: dict[str, set[str]] = {}
    for endpoint in reference():
        by_entity.setdefault(endpoint.path.rsplit("/", 1)[-1].lower(), set()).add(
            endpoint.family)
    for path in PACK:
        family = reference().endpoint(path).family  # type: ignore[union-attr]
        families = by_entity[path.rsplit("/", 1)[-1].lower()]
        if "sync" in families:
            assert family == "sync", path
        elif "bulk" in families:
            assert family == "bulk", path


def test_properties_are_snake_case_of_exacts_names_and_the_key_is_id() -> None:
    for stream in pack_streams():
        schema = custom_stream_schema(stream)
        assert schema["required"] == ["division", "id"], stream.name
        names = set(schema["properties"]) - {"division", "id"}
        expected = {snake_case(n) for n in stream.select if n not in stream.primary_keys}
        if stream.header is not None:  # lines read with their header carry its Modified
            expected.add(snake_case(stream.header.modified))
        assert names == expected, stream.name


def test_sync_streams_bookmark_on_timestamp_and_others_on_modified_when_they_can() -> None:
    for stream in pack_streams():
        endpoint = stream.reference
        assert endpoint is not None
        if endpoint.family == "sync":
            assert stream.replication_property == "timestamp", stream.name
        elif "Modified" in endpoint:
            assert stream.replication_property == "modified", stream.name
        elif stream.header is not None:
            assert stream.replication_property == "entry_modified", stream.name
        else:
            assert stream.replication_property is None, stream.name


def test_only_purchase_entry_lines_are_read_through_their_header() -> None:
    """The one pack endpoint with neither Timestamp nor Modified whose header has Modified."""
    headed = {s.name: s.header for s in pack_streams() if s.header is not None}
    assert headed == {"exact_purchase_entry_lines": Header(
        "purchaseentry/PurchaseEntries", "PurchaseEntryLines", "EntryID")}


def test_a_custom_stream_cannot_take_a_pack_streams_name() -> None:
    with pytest.raises(ConfigError, match=r"exact_projects.*financial pack"):
        make_api(custom_streams=[{"name": "exact_projects", "endpoint": "project/Projects"}])


def test_pack_streams_are_read_by_the_api_like_custom_streams() -> None:
    api, fake = make_api()
    list(api.read_pages("exact_gl_accounts", 100001, since=5))
    [(_, path, params)] = fake.asked
    assert path == "sync/Financial/GLAccounts"
    assert params["$filter"] == "Timestamp gt 5L"
    assert "GLAccountClassificationMappings" not in params["$select"]
