"""Exact's 60 calls a minute: a sync that needs more than one minute's budget gets no 429."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration.helpers import exact_keys

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
