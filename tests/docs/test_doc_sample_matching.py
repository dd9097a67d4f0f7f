"""How a documented terminal sample is compared with real output (tests/docs/doc_samples.py)."""

from __future__ import annotations

from doc_samples import match, parse

ID = "47d30dde-1331-4b22-ade8-13af409c8c2b"
REAL = "6ed0a423-4584-47b7-9925-cb2a441e5db5"


def test_identical_output_matches() -> None:
    assert match(["a", "b"], ["a", "b"], {}) == {}


def test_a_changed_or_missing_line_does_not_match() -> None:
    assert match(["a", "b"], ["a", "c"], {}) is None
    assert match(["a", "b"], ["a"], {}) is None
    assert match(["a"], ["a", "extra"], {}) is None


def test_dots_line_stands_for_any_lines_and_dots_in_a_line_for_any_text() -> None:
    assert match(["{", "...", "}"], ["{", "x", "y", "}"], {}) == {}
    assert match(["{", "...", "}"], ["{", "}"], {}) == {}
    assert match(['{"id":1,...,"name":"Acme"}'], ['{"id":1,"x":2,"name":"Acme"}'], {}) == {}
    assert match(['{"id":1,...,"name":"Acme"}'], ['{"id":1,"x":2,"name":"Other"}'], {}) is None


def test_datetimes_stand_for_any_datetime() -> None:
    assert match(['"at": "2026-11-25T15:04:32.851Z"'], ['"at": "2030-01-02T03:04:05.6Z"'], {})\
        == {}


def test_a_guid_maps_to_the_real_one_and_must_stay_the_same() -> None:
    assert match([f'"id": "{ID}"'], [f'"id": "{REAL}"'], {}) == {ID: REAL}
    assert match([f'"id": "{ID}"'], [f'"id": "{REAL}"'], {ID: "other"}) is None


def test_commands_continue_over_backslashes_and_trailing_blank_lines_are_layout() -> None:
    steps = parse(["$ a \\", "    b", "out", "", "$ c", "more"])
    assert [(s.command, s.expected) for s in steps] == [("a \\\n    b", ["out"]),
                                                        ("c", ["more"])]
