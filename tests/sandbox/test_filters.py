"""OData $filter/$orderby parsing and SQL compilation, run against real stored rows."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_sandbox.entities import ENTITIES
from exact_online_sandbox.errors import ExactApiError
from exact_online_sandbox.filters import compile_filter, parse_datetime_ms
from exact_online_sandbox.paging import order_sql, parse_orderby
from exact_online_sandbox.store import Store

ACCOUNTS = ENTITIES["Accounts"]
COLUMNS = {"Timestamp": "ts", "ID": "key"}
GUID_A = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

ROWS: list[dict[str, Any]] = [
    {"ID": GUID_A, "Name": "O'Brien & \"Sons\"", "Code": "                25",
     "Country": "NL ", "CreditLineSales": 1.5, "IsSales": True,
     "Created": parse_datetime_ms("2024-01-01T00:00:00"), "Email": None, "Timestamp": 100},
    {"ID": "00000000-0000-4000-8000-000000000002", "Name": "Müller GmbH", "Code": "26",
     "Country": "DE ", "CreditLineSales": 2.0, "IsSales": False,
     "Created": parse_datetime_ms("2024-06-01T12:00:00"), "Email": "", "Timestamp": 200},
    {"ID": "00000000-0000-4000-8000-000000000003", "Name": "acme bikes", "Code": "27",
     "Country": "NL ", "CreditLineSales": 10.0, "IsSales": True,
     "Created": parse_datetime_ms("2025-01-01T00:00:00"), "Email": "a@b.test", "Timestamp": 300},
]


@pytest.fixture(scope="module")
def store() -> Store:
    s = Store(None)
    for row in ROWS:
        s.put("Accounts", 1, row["ID"], row["Timestamp"], None, row)
    return s


def names(store: Store, text: str, allowed: frozenset[str] | None = None) -> set[str]:
    sql, params = compile_filter(text, ACCOUNTS.fields, type_name=ACCOUNTS.type_name,
                                 columns=COLUMNS, allowed=allowed)
    rows = store.select(f"SELECT key, ts, data FROM rows WHERE entity = 'Accounts' AND {sql}",
                        params)
    return {next(r["Name"] for r in ROWS if r["ID"] == key) for key, _, _ in rows}


def test_eq_on_string_ignores_case_and_trailing_spaces_like_sql_server(store: Store) -> None:
    assert names(store, "Country eq 'nl'") == {"O'Brien & \"Sons\"", "acme bikes"}


def test_ne_excludes_matching_rows(store: Store) -> None:
    assert names(store, "Country ne 'NL'") == {"Müller GmbH"}


@pytest.mark.parametrize(("text", "expected"), [
    ("CreditLineSales gt 1.5", {"Müller GmbH", "acme bikes"}),
    ("CreditLineSales ge 2", {"Müller GmbH", "acme bikes"}),
    ("CreditLineSales lt 2", {"O'Brien & \"Sons\""}),
    ("CreditLineSales le 2.0M", {"O'Brien & \"Sons\"", "Müller GmbH"}),
])
def test_comparison_operators_on_decimals(store: Store, text: str, expected: set[str]) -> None:
    assert names(store, text) == expected


def test_and_binds_tighter_than_or(store: Store) -> None:
    text = "Country eq 'DE' or Country eq 'NL' and CreditLineSales gt 5"
    assert names(store, text) == {"Müller GmbH", "acme bikes"}


def test_parentheses_override_precedence(store: Store) -> None:
    text = "(Country eq 'DE' or Country eq 'NL') and CreditLineSales gt 5"
    assert names(store, text) == {"acme bikes"}


def test_not_negates_a_predicate(store: Store) -> None:
    assert names(store, "not (Country eq 'NL')") == {"Müller GmbH"}


def test_doubled_quote_escapes_a_quote_in_a_string_literal(store: Store) -> None:
    assert names(store, "Name eq 'O''Brien & \"Sons\"'") == {"O'Brien & \"Sons\""}


def test_injection_attempt_is_only_a_literal(store: Store) -> None:
    assert names(store, "Name eq 'x'' OR 1=1 --'") == set()


def test_guid_literal_matches_case_insensitively(store: Store) -> None:
    assert names(store, f"ID eq guid'{GUID_A.upper()}'") == {"O'Brien & \"Sons\""}


def test_datetime_literal_is_read_as_utc(store: Store) -> None:
    assert names(store, "Created ge datetime'2024-06-01T12:00:00'") == {"Müller GmbH",
                                                                         "acme bikes"}
    assert names(store, "Created lt datetime'2024-06-01'") == {"O'Brien & \"Sons\""}


def test_int64_literal_with_l_suffix_filters_the_timestamp_column(store: Store) -> None:
    assert names(store, "Timestamp gt 150L") == {"Müller GmbH", "acme bikes"}
    sql, _ = compile_filter("Timestamp gt 150L", ACCOUNTS.fields,
                            type_name=ACCOUNTS.type_name, columns=COLUMNS)
    assert "ts >" in sql


def test_boolean_literals_and_bare_boolean_fields(store: Store) -> None:
    assert names(store, "IsSales eq false") == {"Müller GmbH"}
    assert names(store, "IsSales and Country eq 'DE'") == set()


def test_null_comparison_uses_is_null(store: Store) -> None:
    assert names(store, "Email eq null") == {"O'Brien & \"Sons\""}
    assert names(store, "Email ne null") == {"Müller GmbH", "acme bikes"}


def test_trim_removes_exacts_code_padding(store: Store) -> None:
    assert names(store, "trim(Code) eq '25'") == {"O'Brien & \"Sons\""}
    assert names(store, "Code eq '25'") == set()


def test_substringof_and_startswith_are_case_insensitive(store: Store) -> None:
    assert names(store, "substringof('BIKE', Name)") == {"acme bikes"}
    assert names(store, "startswith(Name, 'mül')") == {"Müller GmbH"}
    assert names(store, "substringof('gmbh', Name) eq false") == {"O'Brien & \"Sons\"",
                                                                   "acme bikes"}


def test_unknown_field_is_a_400_naming_the_property_and_type(store: Store) -> None:
    with pytest.raises(ExactApiError) as err:
        names(store, "Nope eq 1")
    assert err.value.status == 400
    assert "No property 'Nope' exists in type 'Exact.Web.Api.Models.Account'" in err.value.message


@pytest.mark.parametrize("text", [
    "Name eq", "Name eq 'unterminated", "(Name eq 'x'", "Name eq 'x')", "Name eqq 'x'",
    "Name eq 'x' and", "", "Name eq guid'not-a-guid'", "Created gt datetime'yesterday'",
    "Name eq 'x' Country eq 'y'", "unknownfn(Name) eq 'x'", "Name",
])
def test_bad_syntax_is_a_400(store: Store, text: str) -> None:
    with pytest.raises(ExactApiError) as err:
        names(store, text)
    assert err.value.status == 400


def test_incompatible_operand_types_are_a_400(store: Store) -> None:
    with pytest.raises(ExactApiError) as err:
        names(store, "ID eq 'plain string'")
    assert "incompatible with operand types 'System.Guid' and 'System.String'" in \
        err.value.message


def test_allowed_fields_restrict_filters_like_sync_endpoints(store: Store) -> None:
    assert names(store, "Timestamp gt 0L", frozenset({"Timestamp"})) == {r["Name"] for r in ROWS}
    with pytest.raises(ExactApiError) as err:
        names(store, "Name eq 'x'", frozenset({"Timestamp"}))
    assert err.value.message == "This $filter parameter is not supported for this resource"


def test_params_carry_values_never_the_sql_text() -> None:
    sql, params = compile_filter("Name eq 'Robert''); DROP TABLE rows;--'", ACCOUNTS.fields,
                                 type_name=ACCOUNTS.type_name)
    assert "DROP" not in sql
    assert "Robert'); DROP TABLE rows;--" in params


def test_orderby_compiles_directions_and_rejects_unknown_fields() -> None:
    sql, params = order_sql(parse_orderby("Name desc, Timestamp", ACCOUNTS.fields,
                                          ACCOUNTS.type_name, COLUMNS))
    assert sql == "json_extract(data, ?) DESC, ts ASC"
    assert params == ["$.Name"]
    with pytest.raises(ExactApiError):
        parse_orderby("Nope", ACCOUNTS.fields, ACCOUNTS.type_name, {})
