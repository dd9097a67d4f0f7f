"""The tap's STATE check: its own states pass, damaged and foreign ones are named."""

from __future__ import annotations

from typing import Any

import pytest

from exact_online_core.console import InputFileError
from tap_exact_online.state import state_problem
from tap_exact_online.tap import TapExactOnline

OWN_STATE: dict[str, Any] = {"bookmarks": {
    "generic_contact": {"partitions": [
        {"context": {"division": 100001}, "replication_key": "exact_timestamp",
         "replication_key_value": 10000000129, "deleted_since": 10000000132}]},
    "accounting_invoice": {"partitions": [
        {"context": {"division": 100001}, "replication_key": "exact_timestamp",
         "replication_key_value": "10000000457", "deleted_since": "10000000132",
         "receivables_since": "2026-12-01T13:01:44.897Z", "receivables_seen": {}}]},
    "generic_user": {"partitions": [
        {"context": {"division": 100002}, "replication_key": "updated_at",
         "replication_key_value": "2026-12-01T13:01:45.114Z",
         "seen_since_bookmark": {"5d4a3b2c-0000-4000-8000-000000000001": "2026-12-01T13:00Z"}},
    ]},
    "generic_workspace": {"partitions": [{"context": {"division": 100001}}],
                          "replication_key_signpost": "2026-12-01T13:01:45Z"},
    "a_removed_custom_stream": {"partitions": [{"context": {"division": 100001},
                                                 "replication_key_value": 5}]},
}}


def test_a_state_this_tap_wrote_passes() -> None:
    assert state_problem(OWN_STATE) is None
    assert state_problem({}) is None


@pytest.mark.parametrize(
    ("state", "named"),
    [
        pytest.param({"bookmarks": {"generic_company": {"partitions": "x"}}},
                     "bookmarks.generic_company.partitions", id="partitions-x"),
        pytest.param({"bookmarks": {"s": {"partitions": [{"context": {"division": 1},
                                                           "deleted_since": -3}]}}},
                     "bookmarks.s.partitions[0].deleted_since", id="negative-deleted-since"),
        pytest.param({"bookmarks": {"s": {"partitions": [{"context": {"division": "1"}}]}}},
                     "bookmarks.s.partitions[0].context.division", id="division-as-text"),
        pytest.param({"bookmarks": {"s": {"partitions": [{"context": {"division": 1},
                                                           "receivables_since": "soon"}]}}},
                     "bookmarks.s.partitions[0].receivables_since", id="receivables-since"),
        pytest.param({"bookmarks": {"orders": {"updated_at": "2024-01-01"}}},
                     "bookmarks.orders has updated_at", id="singer-classic-state"),
        pytest.param({"bookmarks": {"s": [1]}}, "bookmarks.s must be an object", id="list"),
    ],
)
def test_a_damaged_or_foreign_state_is_named_by_its_key(state: Any, named: str) -> None:
    problem = state_problem(state)
    assert problem is not None and problem.startswith(named), problem


def test_the_tap_built_in_process_refuses_a_bad_state_naming_it() -> None:
    config = {"base_url": "http://127.0.0.1:9", "client_id": "c", "client_secret": "s",
              "divisions": [100001]}
    with pytest.raises(InputFileError, match=r"state: bookmarks\.x\.partitions must be"):
        TapExactOnline(config=config, state={"bookmarks": {"x": {"partitions": "x"}}})
