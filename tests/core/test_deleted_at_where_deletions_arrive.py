"""`_sdc_deleted_at` exists only on models whose deletions Exact logs in sync/Deleted."""

from __future__ import annotations

import pytest

from exact_online_core.api import ExactOnline
from exact_online_core.config import ExactConfig
from exact_online_core.mappings import MODELS, get_model, json_schema, to_unified

WITH_DELETIONS = ("generic_contact", "generic_company", "accounting_invoice",
                  "accounting_invoice_item", "accounting_invoice_line_item")
WITHOUT = ("generic_user", "generic_workspace")


def test_models_split_into_those_with_and_without_deletions() -> None:
    assert {name for name, model in MODELS.items() if model.carries_deletions} == set(
        WITH_DELETIONS)


@pytest.mark.parametrize("name", WITH_DELETIONS)
def test_schema_declares_deleted_at_where_exact_logs_deletions(name: str) -> None:
    assert json_schema(name)["properties"]["_sdc_deleted_at"]["format"] == "date-time"


@pytest.mark.parametrize("name", WITHOUT)
def test_schema_has_no_deleted_at_where_no_deletion_can_arrive(name: str) -> None:
    assert "_sdc_deleted_at" not in json_schema(name)["properties"]


def test_user_record_has_no_deleted_at() -> None:
    row = {"UserID": "5D4A3B2C-0000-4000-8000-000000000001", "FirstName": "Ann",
           "Created": "/Date(1782404464260)/", "Modified": "/Date(1782404464260)/"}
    record = to_unified(get_model("generic_user"), row, division=100001)
    assert "_sdc_deleted_at" not in record
    assert set(record) <= set(json_schema("generic_user")["properties"])


def test_custom_stream_declares_deleted_at_only_where_exact_logs_its_deletions() -> None:
    api = ExactOnline(
        ExactConfig.from_mapping({"base_url": "http://127.0.0.1:9", "client_id": "c",
                                  "client_secret": "s"}),
        custom_streams=[
            {"name": "projects", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
             "replication_key": "Timestamp", "select": ["ID", "Code", "Timestamp"]},
            {"name": "journals", "endpoint": "financial/Journals", "primary_keys": ["ID"],
             "select": ["ID", "Code"]},
        ],
    )
    assert "_sdc_deleted_at" in api.schema("projects")["properties"]
    assert "_sdc_deleted_at" not in api.schema("journals")["properties"]
