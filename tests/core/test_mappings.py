"""Each unified model maps realistic Exact rows both ways, driven by its table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from exact_online_core.errors import MalformedResponseError, ValidationError
from exact_online_core.mappings import (
    ACCOUNTING_INVOICE_ITEM,
    ACCOUNTING_INVOICE_LINE_ITEM,
    GENERIC_COMPANY,
    GENERIC_CONTACT,
    GENERIC_USER,
    GENERIC_WORKSPACE,
    MODELS,
    exact_instant,
    exact_select,
    get_model,
    to_exact,
    to_unified,
    utc_to_exact_local,
)

ACCOUNT_ID = "40D4C49D-1790-4A13-B890-42909AF24348"
# 2026-06-25 16:21:04.260 Exact wall clock (CEST) = 14:21:04.260 UTC
CREATED = "/Date(1782404464260)/"
CREATED_UTC = "2026-06-25T14:21:04.260Z"


def account_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ID": ACCOUNT_ID, "Code": "           0000011", "Name": "Test Customer",
        "Email": "test@example.com", "Phone": "+33123456789", "Website": None,
        "VATNumber": "FR12345678901", "Country": "FR ", "ChamberOfCommerce": "12345678",
        "Classification1": "6D4B0A3E-0000-4000-8000-000000000001",
        "Created": CREATED, "Modified": "/Date(1782404464260)/", "Timestamp": 8812731,
    }
    row.update(overrides)
    return row


def contact_row() -> dict[str, Any]:
    return {
        "ID": "D3D37654-E1D6-4D5E-A489-00AC7CCDC973", "Account": ACCOUNT_ID.lower(),
        "FirstName": "Alice", "LastName": "O'Brien", "Email": "alice.test@example.com",
        "Phone": None, "Created": "/Date(1782404052403)/", "Modified": "/Date(1782404052403)/",
        "Timestamp": 8812700,
    }


def item_row() -> dict[str, Any]:
    return {
        "ID": "C00E0939-13B8-4FC0-93A1-A8B62DBEE90E", "Code": "TEST-ITEM-20250625B",
        "Description": "Test item", "ExtraDescription": "Longer text", "StandardSalesPrice": 15,
        "Unit": "pc      ", "IsSalesItem": True, "FreeTextField_01": "blue",
        "Created": "/Date(1782404376547)/", "Modified": "/Date(1782404376547)/",
        "Timestamp": 8812800,
    }


def test_company_row_maps_with_code_and_country_trimmed() -> None:
    record = to_unified(GENERIC_COMPANY, account_row(), division=124132)
    assert record == {
        "id": ACCOUNT_ID.lower(), "division": 124132, "created_at": CREATED_UTC,
        "updated_at": CREATED_UTC, "_sdc_deleted_at": None, "exact_timestamp": 8812731,
        "name": "Test Customer", "code": "0000011", "email": "test@example.com",
        "phone": "+33123456789", "website": None, "vat_number": "FR12345678901",
        "country": "FR",
    }


def test_contact_row_maps_company_reference_as_lowercase_guid() -> None:
    record = to_unified(GENERIC_CONTACT, contact_row(), division=124132)
    assert record["id"] == "d3d37654-e1d6-4d5e-a489-00ac7ccdc973"
    assert record["company_id"] == ACCOUNT_ID.lower()
    assert (record["first_name"], record["last_name"], record["phone"]) == (
        "Alice", "O'Brien", None
    )


def test_user_row_maps_without_timestamp_property() -> None:
    row = {
        "UserID": "CC20A11B-C137-48CC-8E55-09D4ADBD4AC9", "FirstName": "Samuel",
        "LastName": "Bodin", "Email": "samuel@example.com", "UserName": "samuel@example.com",
        "Created": "/Date(1720041459380)/", "Modified": "/Date(1722263653427)/",
    }
    record = to_unified(GENERIC_USER, row, division=124132)
    assert record["id"] == "cc20a11b-c137-48cc-8e55-09d4adbd4ac9"
    assert record["user_name"] == "samuel@example.com"
    assert "exact_timestamp" not in record


def test_workspace_row_uses_its_own_code_as_id_and_division() -> None:
    row = {
        "Code": 124132, "Description": "Nango", "Currency": "EUR", "Country": "FR ",
        "IsMainDivision": False, "Status": 1, "Created": "/Date(1720041459380)/",
        "Modified": "/Date(1722263653427)/",
    }
    record = to_unified(GENERIC_WORKSPACE, row, division=100001)
    assert (record["id"], record["division"]) == ("124132", 124132)
    assert (record["name"], record["country"], record["is_main"], record["status"]) == (
        "Nango", "FR", False, "active"
    )


def test_item_row_takes_currency_from_the_division_context() -> None:
    record = to_unified(
        ACCOUNTING_INVOICE_ITEM, item_row(), division=124132, context={"currency": "EUR"}
    )
    assert record["price"] == 15.0 and isinstance(record["price"], float)
    assert (record["name"], record["code"], record["unit"]) == (
        "Test item", "TEST-ITEM-20250625B", "pc"
    )
    assert (record["currency"], record["is_sales_item"]) == ("EUR", True)


def test_line_item_row_keeps_negative_credit_note_amounts() -> None:
    row = {
        "ID": "19D4C9B5-C888-4404-9B28-F454E97F74CE",
        "InvoiceID": "A07B5588-4D7D-4872-88F9-30B2D256440D",
        "Item": "918004E1-AB42-4B76-A196-FD57B44A3D4C", "LineNumber": 1,
        "Description": "Returned goods", "Quantity": -2, "NetPrice": 12.5, "AmountFC": -25,
        "VATAmountFC": -5.25, "VATCode": "2  ", "Timestamp": 99,
    }
    record = to_unified(ACCOUNTING_INVOICE_LINE_ITEM, row, division=1)
    assert record["invoice_id"] == "a07b5588-4d7d-4872-88f9-30b2d256440d"
    assert (record["quantity"], record["total_amount"], record["tax_amount"]) == (
        -2.0, -25.0, -5.25
    )
    assert (record["line_number"], record["vat_code"]) == (1, "2")


def test_row_without_key_is_a_malformed_response() -> None:
    with pytest.raises(MalformedResponseError, match="generic_company"):
        to_unified(GENERIC_COMPANY, account_row(ID=None), division=1)


def test_unreadable_value_names_model_and_property() -> None:
    with pytest.raises(MalformedResponseError, match=r"generic_workspace\.status"):
        to_unified(GENERIC_WORKSPACE, {"Code": 1, "Status": 7}, division=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("/Date(1782404464260)/", "2026-06-25T14:21:04.260Z", id="summer-cest"),
        pytest.param("/Date(1704103200000)/", "2024-01-01T09:00:00Z", id="winter-cet"),
        pytest.param("/Date(1782404464260+0200)/", "2026-06-25T16:21:04.260Z", id="offset"),
        pytest.param("2026-06-25T16:16:40", "2026-06-25T14:16:40Z", id="naive-iso-local"),
        pytest.param("2026-06-25T14:16:40Z", "2026-06-25T14:16:40Z", id="iso-utc"),
    ],
)
def test_exact_datetimes_become_utc_instants(value: str, expected: str) -> None:
    record = to_unified(GENERIC_COMPANY, account_row(Created=value), division=1)
    assert record["created_at"] == expected


def test_utc_to_exact_local_is_the_inverse_for_filters() -> None:
    instant = exact_instant("/Date(1782404464260)/")
    assert instant is not None
    assert utc_to_exact_local(instant) == datetime(2026, 6, 25, 16, 21, 4, 260000)
    assert utc_to_exact_local(datetime(2024, 1, 1, 9, tzinfo=UTC)) == datetime(2024, 1, 1, 10)


@pytest.mark.parametrize(
    "name",
    [pytest.param("generic_contact", id="snake"), pytest.param("genericContact", id="camel")],
)
def test_get_model_accepts_stream_name_and_model_id(name: str) -> None:
    assert get_model(name) is GENERIC_CONTACT


def test_get_model_refuses_unknown_name() -> None:
    with pytest.raises(ValidationError, match="Unknown unified model 'generic_thing'"):
        get_model("generic_thing")


def test_all_seven_models_are_registered_with_camel_case_ids() -> None:
    assert {m.model_id for m in MODELS.values()} == {
        "genericContact", "genericCompany", "genericUser", "genericWorkspace",
        "accountingInvoice", "accountingInvoiceItem", "accountingInvoiceLineItem",
    }


# --- to_exact -------------------------------------------------------------------------------


def test_create_company_body_has_only_given_properties() -> None:
    body = to_exact(
        GENERIC_COMPANY, {"name": "Acme", "country": "NL", "email": None}, operation="create"
    )
    assert body == {"Name": "Acme", "Country": "NL"}


def test_update_sends_a_partial_body_including_explicit_nulls() -> None:
    body = to_exact(GENERIC_CONTACT, {"id": "x", "phone": None, "email": "a@b.c"},
                    operation="update")
    assert body == {"Phone": None, "Email": "a@b.c"}


def test_create_contact_without_company_names_model_and_property() -> None:
    with pytest.raises(ValidationError, match=r"generic_contact: 'company_id' required"):
        to_exact(GENERIC_CONTACT, {"first_name": "Alice"}, operation="create")


def test_create_item_missing_two_required_properties_names_both() -> None:
    with pytest.raises(ValidationError, match=r"'name', 'code'"):
        to_exact(ACCOUNTING_INVOICE_ITEM, {"price": 10}, operation="create")


def test_company_code_is_sent_as_given() -> None:
    assert to_exact(GENERIC_COMPANY, {"code": "25"}, operation="update") == {"Code": "25"}


@pytest.mark.parametrize(
    ("model", "operation"),
    [
        pytest.param(GENERIC_USER, "create", id="user-create"),
        pytest.param(GENERIC_USER, "update", id="user-update"),
        pytest.param(GENERIC_WORKSPACE, "create", id="workspace-create"),
        pytest.param(GENERIC_WORKSPACE, "update", id="workspace-update"),
    ],
)
def test_read_only_models_refuse_writes_and_say_why(model: Any, operation: Any) -> None:
    with pytest.raises(ValidationError, match="no write API"):
        to_exact(model, {"name": "x"}, operation=operation)


def test_read_only_property_is_refused_in_strict_mode() -> None:
    with pytest.raises(ValidationError, match=r"accounting_invoice_item\.currency is read-only"):
        to_exact(ACCOUNTING_INVOICE_ITEM, {"currency": "EUR"}, operation="update")


def test_read_only_and_common_properties_are_dropped_when_not_strict() -> None:
    record = to_unified(GENERIC_COMPANY, account_row(), division=1)
    body = to_exact(GENERIC_COMPANY, record, operation="update", strict=False)
    assert "id" not in body and "exact_timestamp" not in body
    assert body["Name"] == "Test Customer" and body["Code"] == "0000011"


def test_unknown_property_is_refused_in_strict_mode() -> None:
    with pytest.raises(ValidationError, match="generic_company has no property 'colour'"):
        to_exact(GENERIC_COMPANY, {"colour": "red"}, operation="update")


def test_invalid_value_names_model_and_property() -> None:
    with pytest.raises(ValidationError, match=r"accounting_invoice_item\.price"):
        to_exact(ACCOUNTING_INVOICE_ITEM, {"price": "cheap"}, operation="update")


def test_line_item_cannot_move_to_another_invoice() -> None:
    with pytest.raises(ValidationError, match="only be set when the record is created"):
        to_exact(ACCOUNTING_INVOICE_LINE_ITEM, {"invoice_id": "x"}, operation="update")


# --- $select --------------------------------------------------------------------------------


def test_select_for_chosen_properties_always_has_key_timestamp_and_audit() -> None:
    assert exact_select(GENERIC_COMPANY, ["name", "code"]) == [
        "ID", "Timestamp", "Created", "Modified", "Name", "Code"
    ]


def test_select_on_plain_endpoint_leaves_out_timestamp() -> None:
    assert "Timestamp" not in exact_select(GENERIC_COMPANY, sync=False)


def test_select_of_context_field_adds_no_exact_property() -> None:
    assert exact_select(ACCOUNTING_INVOICE_ITEM, ["currency"]) == [
        "ID", "Timestamp", "Created", "Modified"
    ]


def test_select_refuses_unknown_property() -> None:
    with pytest.raises(ValidationError, match="colour"):
        exact_select(GENERIC_COMPANY, ["colour"])
