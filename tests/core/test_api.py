"""Narrow checks of the model API's pieces: filters, bookmarks, keys, refusals before calls."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from exact_online_core.api import ExactOnline
from exact_online_core.config import ExactConfig
from exact_online_core.errors import ConfigError, ValidationError
from exact_online_core.lookups import find_filter
from exact_online_core.mappings import parse_custom_streams
from exact_online_core.odata import Page
from exact_online_core.readers import (
    combine,
    custom_deleted_type,
    instant_since,
    modified_filter,
    raw_value,
    timestamp_since,
)
from exact_online_core.writers import entity_path, key_literal

GUID = "0b5d704b-c18a-475a-8877-6ba3224de217"


class RecordingClient:
    """Answers every collection read with one empty page; remembers what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, dict[str, str]]] = []

    def iter_pages(
        self, path: str, *, division: int | None = None, params: Mapping[str, str] | None = None
    ) -> Iterator[Page]:
        self.asked.append(("GET", path, dict(params or {})))
        yield Page([], None)

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.asked.append((name.upper(), str(args[:1]), {}))
            raise AssertionError(f"unexpected call {name}{args}")

        return call


def make_api(**kw: Any) -> tuple[ExactOnline, RecordingClient]:
    config = ExactConfig.from_mapping(
        {"base_url": "https://start.exactonline.nl", "client_id": "c", "client_secret": "s"}
    )
    fake = RecordingClient()
    return ExactOnline(config, client=fake, clock=lambda: 1_780_000_000.0, **kw), fake  # type: ignore[arg-type]


def test_combine_parenthesises_the_user_filter() -> None:
    assert combine("A eq 1 or B eq 2", "Modified ge x") == "(A eq 1 or B eq 2) and Modified ge x"
    assert combine(None, "T gt 1L") == "T gt 1L"
    assert combine("  ", None) is None


def test_bookmark_kinds_are_read_leniently() -> None:
    assert timestamp_since(None) == 0 and timestamp_since("42") == 42
    assert timestamp_since("2026-01-01T00:00:00Z") == 0  # a date bookmark: start over
    assert instant_since("2026-01-01T10:00:00Z", None) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert instant_since(123, datetime(2025, 1, 1)) == datetime(2025, 1, 1, tzinfo=UTC)


def test_modified_filter_uses_exact_local_time() -> None:
    summer = datetime(2026, 7, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert modified_filter(summer) == "Modified ge datetime'2026-07-01T14:00:00.123'"


def test_raw_values_of_custom_streams() -> None:
    assert raw_value("Timestamp", "123") == 123
    assert raw_value("StartDate", "/Date(1782345600000)/") == "2026-06-25T00:00:00Z"
    assert raw_value("Modified", "/Date(1782345600123)/") == "2026-06-24T22:00:00.123Z"
    assert raw_value("Code", "/Dat") == "/Dat"


def test_keys_become_literals_and_bad_ids_are_refused() -> None:
    assert key_literal(GUID.upper()) == f"guid'{GUID}'"
    assert key_literal("100001") == "100001"
    assert key_literal("P'1") == "'P''1'"
    with pytest.raises(ValidationError, match="GUID"):
        entity_path("crm/Accounts", _model("generic_company"), "1 or 1")


def _model(name: str) -> Any:
    from exact_online_core.mappings import get_model

    return get_model(name)


def test_custom_stream_deleted_types() -> None:
    [projects, plain, receivables] = parse_custom_streams([
        {"name": "p", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
         "select": ["ID"]},
        {"name": "q", "endpoint": "project/Projects", "primary_keys": ["ID"],
         "select": ["ID", "Modified"],
         "replication_key": "Modified"},
        {"name": "r", "endpoint": "cashflow/Receivables", "primary_keys": ["ID"],
         "select": ["ID"]},
    ])
    assert custom_deleted_type(projects) == 21 and custom_deleted_type(plain) == 21
    assert custom_deleted_type(receivables) is None  # sync/Deleted does not log them


def test_bad_field_mapping_fails_at_construction() -> None:
    with pytest.raises(ConfigError, match=r"generic_company\.kvk"):
        make_api(field_mappings={"generic_company": {"kvk": "NoSuchField"}})


def test_sync_read_asks_for_timestamp_and_selected_columns() -> None:
    api, fake = make_api(field_mappings={"generic_company": {"kvk": "ChamberOfCommerce"}})
    [page] = api.read_pages("generic_company", 100001, since=77, properties=["name", "kvk"])
    assert (page.records, page.bookmark) == ([], 77)
    [(_, path, params)] = fake.asked
    assert path == "sync/CRM/Accounts"
    assert params["$filter"] == "Timestamp gt 77L"
    assert set(params["$select"].split(",")) >= {"ID", "Timestamp", "Name", "ChamberOfCommerce"}


def test_filter_switches_a_sync_model_to_bulk_by_modified() -> None:
    api, fake = make_api()
    pages = list(api.read_pages("generic_contact", 100001, filter="Email eq null",
                                since="2026-07-01T12:00:00Z"))
    assert pages[-1].bookmark == "2026-07-01T12:00:00Z"
    [(_, path, params)] = fake.asked
    assert path == "bulk/CRM/Contacts"
    assert params["$filter"] == "(Email eq null) and Modified ge datetime'2026-07-01T14:00:00'"


def test_unknown_property_is_refused_before_any_call() -> None:
    api, fake = make_api()
    with pytest.raises(ValidationError, match="nope"):
        api.read_pages("generic_company", 100001, properties=["nope"])
    assert fake.asked == []


@pytest.mark.parametrize(
    ("stream", "op"),
    [("generic_user", "create"), ("generic_workspace", "update"), ("generic_user", "delete")],
)
def test_writes_to_read_only_models_make_no_call(stream: str, op: str) -> None:
    api, fake = make_api()
    with pytest.raises(ValidationError, match=f"does not support '{op}'"):
        if op == "create":
            api.create(stream, 100001, {})
        elif op == "update":
            api.update(stream, 100001, "1", {})
        else:
            api.delete(stream, 100001, GUID)
    assert fake.asked == []


def test_find_builds_typed_filters() -> None:
    company, invoice = _model("generic_company"), _model("accounting_invoice")
    assert find_filter(company, (), "code", " 25 ") == "trim(Code) eq '25'"
    assert find_filter(invoice, (), "customer_company_id", GUID.upper()) == (
        f"InvoiceTo eq guid'{GUID}'")
    assert find_filter(invoice, (), "type", "credit_note") == "Type eq 8021"
    with pytest.raises(ValidationError, match="computed"):
        find_filter(invoice, (), "balance", 0)


def test_deletions_of_invoice_lines_are_not_mapped() -> None:
    api, fake = make_api()
    list(api.deletions(100001, since=5, streams=["accounting_invoice_line_item"]))
    assert fake.asked[0][2]["$filter"] == "Timestamp gt 5L"


class SlowDivisionsClient(RecordingClient):
    """Lists two divisions, slowly: long enough for other threads to ask meanwhile."""

    def iter_rows(self, path: str, *, division: int | None = None,
                  params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        self.asked.append(("GET", path, dict(params or {})))
        time.sleep(0.2)
        yield from ({"Code": code, "Currency": "EUR"} for code in (100001, 100002))


def test_division_info_asked_by_many_threads_at_once_lists_the_divisions_once() -> None:
    config = ExactConfig.from_mapping(
        {"base_url": "https://start.exactonline.nl", "client_id": "c", "client_secret": "s"}
    )
    fake = SlowDivisionsClient()
    api = ExactOnline(config, client=fake, clock=lambda: 1_780_000_000.0)  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=4) as pool:
        infos = list(pool.map(api.division_info, [100001, 100002, 100001, 100002]))

    assert [info["Code"] for info in infos] == [100001, 100002, 100001, 100002]
    assert [path for _, path, _ in fake.asked] == ["system/Divisions"]
