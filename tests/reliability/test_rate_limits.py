"""Exact's 60 calls a minute: a sync that needs more than one minute's budget gets no 429,
and divisions read in parallel spend their own budgets at the same time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration.helpers import exact_keys

from exact_online_sandbox import seed as seeding
from exact_online_sandbox.server import Sandbox

from .conftest import SandboxClock, tap_in_process

ROWS = 70_000  # 70 sync pages: more than the 60 calls one minute allows


@pytest.mark.slow
def test_sync_of_more_than_a_minutes_budget_gets_no_429(
    make_settings: Callable[..., dict[str, Any]], out_dir: Path
) -> None:
    # x3: a sandbox minute is 20 real seconds, longer than 60 page calls take (about 11 s),
    # so the budget runs out inside a window and the core has to wait for its reset.
    with Sandbox(seed=42, size={"accounts": ROWS}, scale=3.0) as sandbox:
        config = make_settings(sandbox, divisions=[100001])
        sandbox.advance_clock(60 - sandbox.now() % 60 + 0.2)  # start a fresh window
        sandbox.clear_calls()
        started = sandbox.now()
        run = tap_in_process(config, out_dir, SandboxClock.of(sandbox), label="sync")
        elapsed = sandbox.now() - started
        calls = sandbox.calls()
        sandbox.set_limits(minutely=10**6, daily=10**6)
        expected = exact_keys(sandbox, "crm/Accounts", "ID", divisions=(100001,))
    assert run.error is None, run.error
    division_calls = sum(n for key, n in calls["by_endpoint"].items()
                         if "oauth2" not in key and "current/Me" not in key)
    assert division_calls > 60
    assert elapsed > 60, "the sync needed a second minute window"
    assert calls["by_status"].get("429", 0) == 0
    assert {(r["division"], r["id"]) for r in run.records("generic_company")} == expected


DIVISIONS = 4
PARALLEL_ROWS = 62
"""Companies a division, read one a page: each division needs more than its 60 calls a
minute."""


def _sandbox_minutes(sandbox: Sandbox, config: dict[str, Any], out_dir: Path,
                     label: str) -> float:
    """A full sync of every division in this process: sandbox minutes from the sync's first
    answer from Exact to its last."""
    sandbox.advance_clock(60)  # fresh minute windows for every division
    answered: list[float] = []
    run = tap_in_process(config, out_dir, SandboxClock.of(sandbox), label=label,
                         call_times=answered)
    assert run.error is None, run.error
    assert len(run.records("generic_company")) == DIVISIONS * PARALLEL_ROWS
    return (max(answered) - min(answered)) / 60


def test_four_division_workers_take_a_fraction_of_the_sandbox_minutes_of_one(
    make_settings: Callable[..., dict[str, Any]], out_dir: Path
) -> None:
    # The sandbox in its own process (the tap's threads do not share its interpreter), x10:
    # a sandbox minute is 6 real seconds, much longer than the four divisions' 240 calls
    # take even on a busy machine (at x30 the CPU, not the budget, decided the parallel
    # run's minutes when the suite ran beside other work).
    with Sandbox(seed=42, process=True, scale=10.0) as sandbox:
        sandbox.reset(size={**dict.fromkeys(seeding.SMALL, 0), "accounts": PARALLEL_ROWS},
                      divisions=DIVISIONS)
        sandbox.set_limits(minutely=60, daily=5000, page_size=1)  # Exact's real budget
        codes = list(seeding.division_codes(DIVISIONS))
        one = _sandbox_minutes(sandbox, make_settings(sandbox, divisions=codes,
                                                      division_workers=1), out_dir, "one")
        four = _sandbox_minutes(sandbox, make_settings(sandbox, divisions=codes,
                                                       division_workers=4), out_dir, "four")
        refused = sandbox.calls()["by_status"].get("429", 0)
    # One division after another: each spends its minute and waits for the next, 3 times.
    assert one >= 3, one
    assert four <= one / 2, (one, four)
    assert refused == 0
