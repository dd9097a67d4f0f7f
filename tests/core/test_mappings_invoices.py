"""Sales invoices: the unified invoice from its header row and line rows, status, balance and
the nested POST body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from exact_online_core.errors import ValidationError
from exact_online_core.mappings import (
    check_invoice_editable,
    invoice_balance,
    invoice_status,
    invoice_to_exact,
    invoice_to_unified,
)

INVOICE_A = "A07B5588-4D7D-4872-88F9-30B2D256440D"
INVOICE_B = "8718B302-2F75-4B21-885A-D48101CD7870"
CUSTOMER = "a58c29d9-ef92-40f1-b817-31b36990898c"
NOW = datetime(2024, 9, 1, 12, tzinfo=UTC)


def line_row(invoice: str, line: int, *, ts: int, **overrides: Any) -> dict[str, Any]:
    """A line row of sync/SalesInvoice/SalesInvoices: the line's own values and amounts."""
    row: dict[str, Any] = {
        "Timestamp": ts, "InvoiceID": invoice, "ID": f"19d4c9b5-c888-4404-9b28-{ts:012d}",
        "LineNumber": line, "Item": "918004E1-AB42-4B76-A196-FD57B44A3D4C",
        "Description": f"Line {line}", "Quantity": 2, "NetPrice": 50, "AmountFC": 100,
        "VATAmountFC": 21, "VATCode": "2  ",
    }
    row.update(overrides)
    return row


def header_row(invoice: str, *, ts: int, **overrides: Any) -> dict[str, Any]:
    """The invoice's header row (LineNumber 0): the header's fields and amounts."""
    row: dict[str, Any] = {
        "Timestamp": ts, "InvoiceID": invoice, "ID": invoice, "LineNumber": 0,
        "Description": "Invoice header", "InvoiceNumber": 24700001, "Type": 8020,
        "Status": 50, "Currency": "EUR", "AmountFC": 242, "AmountFCExclVat": 200,
        "VATAmountFC": 42, "InvoiceTo": CUSTOMER.upper(), "InvoiceToContactPerson": None,
        "InvoiceDate": "/Date(1723420800000)/", "DueDate": "/Date(1723420800000)/",
        "Journal": "70", "Remarks": "Thanks", "Created": "/Date(1723472960657)/",
        "Modified": f"/Date({1723472960657 + ts})/",
    }
    row.update(overrides)
    return row


def two_line_invoice(**overrides: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header row, line rows) as the invoice reader hands them to invoice_to_unified."""
    return (header_row(INVOICE_A, ts=12, **overrides),
            [line_row(INVOICE_A, 1, ts=10), line_row(INVOICE_A, 2, ts=11)])


def test_invoice_from_its_rows_has_header_totals_and_lines() -> None:
    header, lines = two_line_invoice()
    record = invoice_to_unified(header, lines, None, division=124132, now=NOW)
    assert record["id"] == INVOICE_A.lower()
    assert record["invoice_code"] == "24700001"
    assert (record["pre_tax_amount"], record["tax_amount"], record["total_amount"]) == (
        200.0, 42.0, 242.0
    )
    assert record["customer_company_id"] == CUSTOMER
    assert record["issued_at"] == "2024-08-12T00:00:00Z"
    assert (record["type"], record["journal"], record["note"]) == ("invoice", "70", "Thanks")
    assert record["description"] == "Invoice header"
    assert record["inclusive_of_tax"] is False
    assert record["exact_timestamp"] == 12
    assert [line["line_number"] for line in record["line_items"]] == [1, 2]
    assert record["line_items"][0]["invoice_id"] == INVOICE_A.lower()


def test_line_items_are_in_line_number_order_whatever_the_rows_order() -> None:
    header, lines = two_line_invoice()
    record = invoice_to_unified(header, lines[::-1], None, division=1, now=NOW)
    assert [line["line_number"] for line in record["line_items"]] == [1, 2]


def test_invoice_number_is_null_until_exact_assigns_it() -> None:
    header, lines = two_line_invoice(InvoiceNumber=None, Status=20)
    record = invoice_to_unified(header, lines, None, division=1, now=NOW)
    assert record["invoice_code"] is None


def test_credit_note_keeps_type_and_negative_amounts() -> None:
    header = header_row(INVOICE_A, ts=6, Type=8021, AmountFC=-121, VATAmountFC=-21,
                        AmountFCExclVat=-100, Status=20)
    lines = [line_row(INVOICE_A, 1, ts=5, AmountFC=-100, VATAmountFC=-21)]
    record = invoice_to_unified(header, lines, None, division=1, now=NOW)
    assert record["type"] == "credit_note"
    assert (record["total_amount"], record["balance"]) == (-121.0, -121.0)


@pytest.mark.parametrize(
    ("exact_status", "balance", "due_at", "expected"),
    [
        pytest.param(10, 100.0, None, "draft", id="draft"),
        pytest.param(20, 100.0, "2024-01-01T00:00:00Z", "pending", id="open-past-due"),
        pytest.param(50, 0.0, "2024-01-01T00:00:00Z", "paid", id="processed-paid"),
        pytest.param(50, 0.001, None, "paid", id="paid-within-rounding"),
        pytest.param(50, 50.0, "2024-08-31T00:00:00Z", "overdue", id="overdue"),
        pytest.param(50, 50.0, "2024-09-01T00:00:00Z", "pending", id="due-today"),
        pytest.param(50, 50.0, None, "pending", id="no-due-date"),
        pytest.param(50, -20.0, "2024-08-01T00:00:00Z", "overdue", id="credit-note-open"),
        pytest.param("50", 0.0, None, "paid", id="string-code"),
    ],
)
def test_invoice_status(exact_status: Any, balance: float, due_at: str | None,
                        expected: str) -> None:
    assert invoice_status(exact_status, balance, due_at, NOW) == expected


def test_balance_without_receivables_is_the_total() -> None:
    assert invoice_balance(242.0, None) == (242.0, None)


def test_partial_payment_leaves_the_open_part_outstanding() -> None:
    receivables: list[dict[str, Any]] = [
        {"AmountFC": 142.0, "IsFullyPaid": True, "LastPaymentDate": "/Date(1724371200000)/"},
        {"AmountFC": 100.0, "IsFullyPaid": False, "LastPaymentDate": None},
    ]
    assert invoice_balance(242.0, receivables) == (100.0, None)


def test_fully_paid_invoice_has_zero_balance_and_paid_at() -> None:
    receivable = {"AmountFC": 242.0, "IsFullyPaid": True,
                  "LastPaymentDate": "/Date(1724371200000)/"}
    assert invoice_balance(242.0, receivable) == (0.0, "2024-08-23T00:00:00Z")


def test_credit_note_balance_has_the_sign_of_its_total() -> None:
    assert invoice_balance(-121.0, [{"AmountFC": 121.0, "IsFullyPaid": False}]) == (-121.0, None)


def test_paid_invoice_from_receivables_is_paid() -> None:
    header, lines = two_line_invoice()
    receivable = {"AmountFC": 242.0, "IsFullyPaid": True,
                  "LastPaymentDate": "/Date(1724371200000)/"}
    record = invoice_to_unified(header, lines, [receivable], division=1, now=NOW)
    assert (record["status"], record["balance"], record["paid_at"]) == (
        "paid", 0.0, "2024-08-23T00:00:00Z"
    )


def test_processed_unpaid_invoice_past_due_is_overdue() -> None:
    header, lines = two_line_invoice()
    record = invoice_to_unified(header, lines, [{"AmountFC": 242.0, "IsFullyPaid": False}],
                                division=1, now=NOW)
    assert (record["status"], record["balance"]) == ("overdue", 242.0)


# --- writes ---------------------------------------------------------------------------------


def new_invoice() -> dict[str, Any]:
    return {
        "customer_company_id": CUSTOMER.upper(), "issued_at": "2024-08-12T00:00:00Z",
        "due_at": "2024-09-11", "journal": "70", "type": "invoice", "note": "Thanks",
        "line_items": [
            {"item_id": "918004e1-ab42-4b76-a196-fd57b44a3d4c", "quantity": 1,
             "price_per_unit": 1, "description": "Goods", "vat_code": "2"},
        ],
    }


def test_create_body_nests_lines_and_orders_by_customer() -> None:
    assert invoice_to_exact(new_invoice()) == {
        "OrderedBy": CUSTOMER, "InvoiceDate": "2024-08-12", "DueDate": "2024-09-11",
        "Journal": "70", "Type": 8020, "Remarks": "Thanks",
        "SalesInvoiceLines": [
            {"Item": "918004e1-ab42-4b76-a196-fd57b44a3d4c", "Quantity": 1.0, "NetPrice": 1.0,
             "Description": "Goods", "VATCode": "2"},
        ],
    }


def test_create_without_customer_names_model_and_property() -> None:
    record = new_invoice()
    del record["customer_company_id"]
    with pytest.raises(ValidationError, match=r"accounting_invoice: 'customer_company_id'"):
        invoice_to_exact(record)


def test_create_line_without_item_names_the_line_model() -> None:
    record = new_invoice()
    del record["line_items"][0]["item_id"]
    with pytest.raises(ValidationError, match=r"accounting_invoice_line_item: 'item_id'"):
        invoice_to_exact(record)


def test_credit_note_type_is_written_as_8021() -> None:
    record = {**new_invoice(), "type": "credit_note"}
    assert invoice_to_exact(record)["Type"] == 8021


def test_update_body_uses_invoice_to_and_only_present_fields() -> None:
    body = invoice_to_exact({"customer_company_id": CUSTOMER, "note": None},
                            operation="update")
    assert body == {"InvoiceTo": CUSTOMER, "Remarks": None}


def test_update_from_a_tap_record_drops_computed_fields_when_not_strict() -> None:
    header, lines = two_line_invoice(Status=20)
    record = invoice_to_unified(header, lines, None, division=1, now=NOW)
    body = invoice_to_exact(record, operation="update", strict=False)
    assert "AmountFC" not in body and "SalesInvoiceLines" not in body and "Type" not in body
    assert body["Remarks"] == "Thanks"


def test_update_with_line_items_is_refused_in_strict_mode() -> None:
    with pytest.raises(ValidationError, match="line_items can only be set when"):
        invoice_to_exact({"line_items": []}, operation="update")


@pytest.mark.parametrize("status", [pytest.param(10, id="draft"), pytest.param(20, id="open")])
def test_draft_and_open_invoices_are_editable(status: int) -> None:
    check_invoice_editable(status, "update")


def test_processed_invoice_cannot_be_deleted() -> None:
    with pytest.raises(ValidationError, match="cannot be deleted: Exact status 50"):
        check_invoice_editable(50, "delete")
