"""Unit tests for OData literals, query parameters, envelopes and value decoding."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from exact_online_core import odata
from exact_online_core.errors import MalformedResponseError

GUID = "71B961DE-0D3C-4E5B-9F0A-2B3C4D5E6F70"

# -- literals ---------------------------------------------------------------------------------


def test_string_literal_doubles_single_quotes() -> None:
    assert odata.string("O'Brien") == "'O''Brien'"


def test_string_literal_keeps_padding_spaces() -> None:
    assert odata.string("                25") == "'                25'"


def test_guid_literal_is_lowercased() -> None:
    assert odata.guid(GUID) == f"guid'{GUID.lower()}'"


def test_guid_literal_accepts_uuid_objects() -> None:
    value = uuid.UUID(GUID)
    assert odata.guid(value) == f"guid'{GUID.lower()}'"


@pytest.mark.parametrize(
    "bad", ["", "not-a-guid", GUID + "' or 1 eq 1 or ID eq guid'" + GUID, GUID[:-1]]
)
def test_guid_literal_refuses_non_guids(bad: str) -> None:
    with pytest.raises(ValueError):
        odata.guid(bad)


def test_datetime_literal_converts_aware_values_to_utc_and_sends_naive() -> None:
    cest = timezone(timedelta(hours=2))
    value = datetime(2024, 1, 1, 2, 30, tzinfo=cest)
    assert odata.datetime_(value) == "datetime'2024-01-01T00:30:00'"


def test_datetime_literal_sends_naive_values_unchanged() -> None:
    assert odata.datetime_(datetime(2024, 1, 1)) == "datetime'2024-01-01T00:00:00'"


def test_datetime_literal_accepts_dates_as_midnight() -> None:
    assert odata.datetime_(date(2014, 1, 1)) == "datetime'2014-01-01T00:00:00'"


def test_datetime_literal_keeps_milliseconds() -> None:
    value = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert odata.datetime_(value) == "datetime'2024-05-06T07:08:09.123'"


def test_int64_literal_has_l_suffix() -> None:
    assert odata.int64(123) == "123L"


def test_int64_literal_refuses_strings_and_bools() -> None:
    with pytest.raises(TypeError):
        odata.int64("123")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        odata.int64(True)


def test_boolean_null_and_integer_literals() -> None:
    assert (odata.boolean(True), odata.boolean(False), odata.null()) == ("true", "false", "null")
    assert odata.integer(2) == "2"


# -- combinators ------------------------------------------------------------------------------


def test_comparisons_render_field_operator_literal() -> None:
    assert odata.gt("Timestamp", odata.int64(5)) == "Timestamp gt 5L"
    assert odata.eq("trim(Code)", odata.string("25")) == "trim(Code) eq '25'"
    assert odata.ne("Account/Name", odata.null()) == "Account/Name ne null"


def test_comparisons_refuse_plain_strings_as_values() -> None:
    with pytest.raises(TypeError):
        odata.eq("Name", "'x' or 1 eq 1")  # type: ignore[arg-type]


def test_comparisons_refuse_expressions_as_field_names() -> None:
    with pytest.raises(ValueError):
        odata.eq("Name eq 'x' or Name", odata.string("y"))


def test_and_or_parenthesise_each_operand() -> None:
    a = odata.gt("Timestamp", odata.int64(1))
    b = odata.eq("EntityType", odata.integer(2))
    c = odata.le("Modified", odata.datetime_(date(2024, 1, 1)))
    assert odata.and_(a, odata.or_(b, c)) == (
        "(Timestamp gt 1L) and ((EntityType eq 2) or (Modified le datetime'2024-01-01T00:00:00'))"
    )


def test_and_of_one_expression_is_that_expression() -> None:
    a = odata.ge("Created", odata.datetime_(date(2014, 1, 1)))
    assert odata.and_(a) == a


def test_and_refuses_raw_strings() -> None:
    with pytest.raises(TypeError):
        odata.and_(odata.Expr("A eq 1"), "B eq 2")  # type: ignore[arg-type]


# -- build_params -----------------------------------------------------------------------------


def test_build_params_maps_every_option() -> None:
    params = odata.build_params(
        select=["ID", "Name"],
        filter=odata.eq("Name", odata.string("x")),
        orderby="Modified asc",
        top=60,
        skip=0,
        expand="SalesInvoiceLines",
        extra={"$skiptoken": "guid'abc'"},
    )
    assert params == {
        "$select": "ID,Name",
        "$filter": "Name eq 'x'",
        "$orderby": "Modified asc",
        "$top": "60",
        "$skip": "0",
        "$expand": "SalesInvoiceLines",
        "$skiptoken": "guid'abc'",
    }


def test_build_params_omits_none_and_refuses_empty_filter() -> None:
    assert odata.build_params() == {}
    with pytest.raises(ValueError):
        odata.build_params(filter=" ")


def test_build_params_refuses_negative_top() -> None:
    with pytest.raises(ValueError):
        odata.build_params(top=-1)


# -- envelopes --------------------------------------------------------------------------------


def test_parse_collection_reads_results_and_next() -> None:
    body = {"d": {"results": [{"ID": 1}, {"ID": 2}], "__next": "https://h/api/v1/1/x?$skip=2"}}
    page = odata.parse_collection(body)
    assert page.rows == [{"ID": 1}, {"ID": 2}]
    assert page.next_url == "https://h/api/v1/1/x?$skip=2"


def test_parse_collection_last_page_has_no_next() -> None:
    assert odata.parse_collection({"d": {"results": []}}) == odata.Page([], None)


def test_parse_collection_accepts_bare_array() -> None:
    assert odata.parse_collection({"d": [{"ID": 1}]}) == odata.Page([{"ID": 1}], None)


def test_parse_collection_treats_single_entity_as_one_row() -> None:
    entity = {"__metadata": {"uri": "u"}, "ID": "x"}
    assert odata.parse_collection({"d": entity}).rows == [entity]


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {"error": {"message": {"value": "nope"}}},
        {"d": "x"},
        {"d": {"results": "x"}},
        {"d": {"results": [1, 2]}},
        {"d": {"results": [], "__next": 5}},
    ],
)
def test_parse_collection_refuses_other_shapes(body: object) -> None:
    with pytest.raises(MalformedResponseError):
        odata.parse_collection(body)


def test_malformed_error_excerpt_is_short_and_masks_tokens() -> None:
    body = {"access_token": "SECRET-TOKEN-VALUE", "padding": "x" * 1000}
    with pytest.raises(MalformedResponseError) as info:
        odata.parse_collection(body)
    assert "SECRET-TOKEN-VALUE" not in str(info.value)
    assert len(str(info.value)) < 300


def test_parse_single_reads_an_entity() -> None:
    assert odata.parse_single({"d": {"ID": "x"}}) == {"ID": "x"}


def test_parse_single_reads_the_one_row_of_current_me() -> None:
    body = {"d": {"results": [{"CurrentDivision": 124132}]}}
    assert odata.parse_single(body) == {"CurrentDivision": 124132}


def test_parse_single_refuses_empty_collection() -> None:
    with pytest.raises(MalformedResponseError):
        odata.parse_single({"d": {"results": []}})


def test_strip_metadata_drops_metadata_and_deferred_navigation() -> None:
    row = {
        "__metadata": {"uri": "u", "type": "Exact.Web.Api.Models.SalesInvoice"},
        "ID": "x",
        "SalesInvoiceLines": {"__deferred": {"uri": "u/SalesInvoiceLines"}},
        "Notes": None,
    }
    assert odata.strip_metadata(row) == {"ID": "x", "Notes": None}


def test_strip_metadata_strips_expanded_rows_too() -> None:
    row = {"ID": 1, "Lines": {"results": [{"__metadata": {}, "LineNumber": 1}]}}
    assert odata.strip_metadata(row) == {"ID": 1, "Lines": {"results": [{"LineNumber": 1}]}}


# -- values -----------------------------------------------------------------------------------


def test_parse_date_reads_epoch_milliseconds_as_utc() -> None:
    assert odata.parse_date("/Date(1382667872203)/") == datetime(
        2013, 10, 25, 2, 24, 32, 203000, tzinfo=UTC
    )


def test_parse_date_with_offset_keeps_the_utc_instant() -> None:
    value = odata.parse_date("/Date(1382667872203+0200)/")
    assert value == datetime(2013, 10, 25, 2, 24, 32, 203000, tzinfo=UTC)
    assert value.tzinfo is UTC


def test_parse_date_reads_negative_epochs() -> None:
    assert odata.parse_date("/Date(-86400000)/") == datetime(1969, 12, 31, tzinfo=UTC)


def test_parse_date_none_is_none() -> None:
    assert odata.parse_date(None) is None


def test_parse_date_reads_zone_less_iso_as_utc() -> None:
    assert odata.parse_date("2026-06-25T16:21:03") == datetime(2026, 6, 25, 16, 21, 3, tzinfo=UTC)


def test_parse_date_converts_iso_with_offset_to_utc() -> None:
    assert odata.parse_date("2026-06-25T16:21:03+02:00") == datetime(
        2026, 6, 25, 14, 21, 3, tzinfo=UTC
    )


def test_parse_date_refuses_garbage() -> None:
    with pytest.raises(MalformedResponseError):
        odata.parse_date("/Date(abc)/")


@pytest.mark.parametrize("value", [123456789012, "123456789012", " 123456789012 ", "123456789012L"])
def test_parse_int64_accepts_number_or_numeric_string(value: int | str) -> None:
    assert odata.parse_int64(value) == 123456789012


def test_parse_int64_none_is_none() -> None:
    assert odata.parse_int64(None) is None


@pytest.mark.parametrize("value", ["12a", "", True, 1.5])
def test_parse_int64_refuses_non_integers(value: object) -> None:
    with pytest.raises(MalformedResponseError):
        odata.parse_int64(value)  # type: ignore[call-overload]


# -- error bodies and request bodies ----------------------------------------------------------


def test_error_message_reads_odata_error_value() -> None:
    body = b'{"error":{"code":"","message":{"lang":"","value":"Forbidden - WrongDivision"}}}'
    assert odata.error_message(body) == "Forbidden - WrongDivision"


def test_error_message_reads_atom_mode_xml_error() -> None:
    body = b'<error><code></code><message xml:lang="en">Ongeldig: Relatie</message></error>'
    assert odata.error_message(body) == "Ongeldig: Relatie"


def test_error_message_of_empty_body_is_none() -> None:
    assert odata.error_message(b"  ") is None


def test_encode_body_sends_aware_datetimes_as_naive_utc() -> None:
    value = datetime(2024, 8, 12, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    body = {"When": value, "Day": date(2024, 8, 12), "ID": uuid.UUID(GUID)}
    assert odata.encode_body(body) == (
        b'{"When": "2024-08-12T00:00:00", "Day": "2024-08-12", '
        + f'"ID": "{GUID.lower()}"}}'.encode()
    )
