"""Rendering: __metadata, /Date(ms)/, padding kept, $select, navigation props, envelopes."""

from __future__ import annotations

from typing import Any

from exact_online_sandbox.entities import ENTITIES, resolve
from exact_online_sandbox.responses import collection_body, me_body, render_row, single_body

BASE = "https://sandbox.test"
GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def account(**extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ENTITIES["Accounts"].fields)
    row.update(ID=GUID, Name="Ørsted", Code="                 8", Country="NL ",
               Created=1382667872203, CreditLineSales=1.0, DiscountSales=0.15, Timestamp=99)
    row.update(extra)
    return row


def test_metadata_uri_and_type_for_a_guid_key() -> None:
    out = render_row(ENTITIES["Accounts"], account(), base_url=BASE, division=100001)
    assert out["__metadata"] == {
        "uri": f"{BASE}/api/v1/100001/crm/Accounts(guid'{GUID}')",
        "type": "Exact.Web.Api.Models.Account"}
    assert next(iter(out)) == "__metadata"


def test_metadata_uri_for_an_integer_key() -> None:
    row = dict.fromkeys(ENTITIES["Divisions"].fields) | {"Code": 100001}
    out = render_row(ENTITIES["Divisions"], row, base_url=BASE, division=100001)
    assert out["__metadata"]["uri"] == f"{BASE}/api/v1/100001/system/Divisions(100001)"


def test_sync_rows_are_keyed_by_timestamp() -> None:
    r = resolve("sync/CRM/Accounts")
    assert r is not None
    out = render_row(r, account(), base_url=BASE, division=100001)
    assert out["__metadata"]["uri"].endswith("/sync/CRM/Accounts(99L)")
    assert out["Timestamp"] == "99"  # Edm.Int64 is a JSON string, like the recorded "Hid": "1"


def test_plain_rows_hide_the_timestamp() -> None:
    out = render_row(ENTITIES["Accounts"], account(), base_url=BASE, division=100001)
    assert "Timestamp" not in out


def test_dates_are_rendered_as_ms_since_epoch() -> None:
    out = render_row(ENTITIES["Accounts"], account(), base_url=BASE, division=100001)
    assert out["Created"] == "/Date(1382667872203)/"
    assert out["EndDate"] is None


def test_padding_is_kept_and_integral_decimals_are_numbers() -> None:
    out = render_row(ENTITIES["Accounts"], account(), base_url=BASE, division=100001)
    assert out["Code"] == "                 8" and out["Country"] == "NL "
    assert out["CreditLineSales"] == 1 and isinstance(out["CreditLineSales"], int)
    assert out["DiscountSales"] == 0.15


def test_select_limits_the_fields() -> None:
    out = render_row(ENTITIES["Accounts"], account(), base_url=BASE, division=100001,
                     select=("Name", "Code"))
    assert list(out) == ["__metadata", "Code", "Name"]


def test_navigation_properties_are_deferred_uris() -> None:
    row = dict.fromkeys(ENTITIES["SalesInvoices"].fields) | {"InvoiceID": GUID}
    out = render_row(ENTITIES["SalesInvoices"], row, base_url=BASE, division=7)
    assert out["SalesInvoiceLines"] == {"__deferred": {
        "uri": f"{BASE}/api/v1/7/salesinvoice/SalesInvoices(guid'{GUID}')/SalesInvoiceLines"}}


def test_expanded_lines_are_rendered_as_results() -> None:
    line = dict.fromkeys(ENTITIES["SalesInvoiceLines"].fields) | {"ID": GUID, "LineNumber": 1}
    row = dict.fromkeys(ENTITIES["SalesInvoices"].fields) | {"InvoiceID": GUID,
                                                             "SalesInvoiceLines": [line]}
    out = render_row(ENTITIES["SalesInvoices"], row, base_url=BASE, division=7,
                     expand=("SalesInvoiceLines",))
    results = out["SalesInvoiceLines"]["results"]
    assert results[0]["__metadata"]["type"] == "Exact.Web.Api.Models.SalesInvoiceLine"
    assert results[0]["LineNumber"] == 1


def test_navigation_resolved_rows_render_as_the_target_entity() -> None:
    r = resolve(f"salesinvoice/SalesInvoices(guid'{GUID}')/SalesInvoiceLines")
    assert r is not None
    line = dict.fromkeys(ENTITIES["SalesInvoiceLines"].fields) | {"ID": GUID}
    out = render_row(r, line, base_url=BASE, division=7)
    assert "/salesinvoice/SalesInvoiceLines(guid'" in out["__metadata"]["uri"]


def test_collection_body_has_next_only_when_given() -> None:
    assert collection_body([{"a": 1}], None) == {"d": {"results": [{"a": 1}]}}
    assert collection_body([], "http://n")["d"]["__next"] == "http://n"
    assert collection_body([], None, total=5)["d"]["__count"] == "5"


def test_single_and_me_bodies() -> None:
    assert single_body({"ID": 1}) == {"d": {"ID": 1}}
    me = me_body({"UserID": GUID, "CurrentDivision": 100001}, BASE)
    (only,) = me["d"]["results"]
    assert only["__metadata"] == {"uri": f"{BASE}/api/v1/current/Me(guid'{GUID}')",
                                  "type": "Exact.Web.Api.Models.System.Me"}
    assert only["CurrentDivision"] == 100001


def test_select_star_renders_every_field() -> None:
    out = render_row(ENTITIES["Accounts"], account(), base_url=BASE, division=1, select=("*",))
    assert "Name" in out and "BankAccounts" in out
