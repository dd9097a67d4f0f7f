"""Exact's sync/Deleted EntityType table (exact_online_reference.deleted): its lookup and its
agreement with the two packages that read it, the connector's core and the sandbox."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exact_online_core.mappings import MODELS, parse_custom_streams
from exact_online_core.readers import custom_deleted_type
from exact_online_reference import reference
from exact_online_reference.deleted import DELETED_TYPES, covered_by, deleted_type
from exact_online_sandbox.entities import ENTITIES


def test_a_bare_entity_set_name_gives_its_code() -> None:
    assert deleted_type("Accounts") == 2


@pytest.mark.parametrize("endpoint", ["crm/Contacts", "sync/CRM/Contacts", "bulk/CRM/Contacts"])
def test_every_family_of_an_endpoint_gives_the_entity_sets_code(endpoint: str) -> None:
    assert deleted_type(endpoint) == 5


def test_the_lookup_ignores_case_and_surrounding_slashes() -> None:
    assert deleted_type("/SYNC/financial/transactionlines/") == 1


def test_an_entity_set_exact_logs_no_deletions_for_gives_none() -> None:
    assert deleted_type("cashflow/Receivables") is None


def test_an_empty_name_gives_none() -> None:
    assert deleted_type(" / ") is None


@pytest.mark.parametrize(("endpoint", "code"), [("sync/Logistics/SalesItemPrices", 8),
                                                ("documents/DocumentAttachments", 4)])
def test_a_code_covers_an_entity_set_of_another_name(endpoint: str, code: int) -> None:
    assert deleted_type(endpoint) == code


@pytest.mark.parametrize(("endpoint", "code"), [("crm/Quotations", 34),
                                                ("salesorder/SalesOrders", 32)])
def test_a_header_entity_set_is_logged_under_its_headers_code(endpoint: str, code: int) -> None:
    assert deleted_type(endpoint) == code


def test_a_deprecated_code_covers_no_entity_set() -> None:
    entry = covered_by(12)
    assert entry is not None and entry.name == "SalesOrders" and entry.entity_sets == ()


def test_a_service_qualified_entity_set_is_found_through_its_service_only() -> None:
    assert deleted_type("sync/Payroll/BankAccounts") == 48
    assert deleted_type("crm/BankAccounts") is None


def test_a_code_no_source_lists_is_not_in_the_table() -> None:
    assert covered_by(52) is None


def test_the_table_holds_codes_1_to_59_once_each_but_52() -> None:
    codes = [entry.code for entry in DELETED_TYPES]
    assert codes == sorted(set(codes)) and set(codes) == set(range(1, 60)) - {52}


def test_every_entity_set_in_the_table_is_an_endpoint_exact_serves() -> None:
    served = {"/".join(ep.path.split("/")[-2:]).lower() for ep in reference()} \
        | {ep.path.split("/")[-1].lower() for ep in reference()}
    named = {s.lower() for entry in DELETED_TYPES for s in entry.entity_sets}
    assert named - served == set()


def test_the_sandbox_and_the_core_agree_on_every_endpoint_the_sandbox_logs_deletions_for(
) -> None:
    paths = [(view.path, entity.deleted_type) for entity in ENTITIES.values()
             if entity.deleted_type is not None for view in entity.views.values()]
    [template] = parse_custom_streams([{"name": "s", "endpoint": "crm/Accounts",
                                        "primary_keys": ["ID"], "select": ["ID"]}])
    assert len(paths) > 40
    assert [(path, custom_deleted_type(replace(template, endpoint=path))) for path, _ in paths] \
        == paths

def test_each_unified_model_folds_the_code_exact_logs_for_its_endpoint() -> None:
    folded = {m.name: (m.deleted_type, deleted_type(m.read_path)) for m in MODELS.values()
              if m.deleted_type is not None}
    assert folded and all(mine == exacts for mine, exacts in folded.values()), folded
