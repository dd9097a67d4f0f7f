"""Divisions read in parallel (``division_workers``): the same output as one after another.

The real tap against the sandbox over HTTP, small pages so each stream has many pages per
division, and the sandbox's per-division minute budget low enough that divisions wait for
their windows (on a fast sandbox clock).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .helpers import TapRun

Run = Callable[..., TapRun]


RECENT = timedelta(hours=1)


def _messages_without_timings(run: TapRun) -> list[dict[str, Any]]:
    """Every message, with the instants a run takes from its own clock masked.

    ``time_extracted``, the bookmarks of reads on ``Modified`` (the time the read began,
    less a margin) and the SDK's signpost differ between two runs by design; nothing else
    may.
    """
    now = datetime.now(UTC)

    def mask(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: mask(v) for k, v in value.items() if k != "time_extracted"}
        if isinstance(value, list):
            return [mask(v) for v in value]
        if isinstance(value, str) and value[:2] == "20" and len(value) >= 20:
            with contextlib.suppress(ValueError, TypeError):
                instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
                if now - instant < RECENT:
                    return "<this run's clock>"
        return value

    return [mask(message) for message in run.messages]


def test_parallel_divisions_emit_the_same_messages_and_state_as_one_at_a_time(
    sandbox: Sandbox, tap_config: Callable[..., Path], run_tap: Run
) -> None:
    sandbox.set_limits(page_size=7, plain_page_size=5, minutely=100000, daily=100000)
    one = run_tap(tap_config(division_workers=1))
    four = run_tap(tap_config(division_workers=4))
    assert one.returncode == 0, one.stderr[-2000:]
    assert four.returncode == 0, four.stderr[-2000:]
    assert len(one.records()) > 300
    assert {r["division"] for r in one.records()} == {100001, 100002}
    messages = _messages_without_timings(one)
    assert _messages_without_timings(four) == messages
    assert [m for m in messages if m["type"] == "STATE"][-1]["value"]["bookmarks"]


def test_parallel_divisions_resume_from_state_like_one_at_a_time(
    sandbox: Sandbox, tap_config: Callable[..., Path], run_tap: Run
) -> None:
    sandbox.set_limits(page_size=9, plain_page_size=5, minutely=100000, daily=100000)
    first = run_tap(tap_config(division_workers=1))
    assert first.returncode == 0, first.stderr[-2000:]
    token = sandbox.access_token()
    for division in (100001, 100002):
        company = [r for r in first.records("generic_company") if r["division"] == division][3]
        renamed = sandbox.call(token, f"crm/Accounts(guid'{company['id']}')", "PUT",
                               division=division, json={"Name": "Renamed between runs"})
        assert renamed.status_code == 204
    one = run_tap(tap_config(division_workers=1), state=first.final_state)
    three = run_tap(tap_config(division_workers=3), state=first.final_state)
    assert one.returncode == 0 and three.returncode == 0, three.stderr[-2000:]
    assert {r["name"] for r in one.records("generic_company")} == {"Renamed between runs"}
    assert _messages_without_timings(three) == _messages_without_timings(one)


def test_a_division_that_fails_is_named_in_the_one_error_line(
    sandbox: Sandbox, tap_config: Callable[..., Path], run_tap: Run
) -> None:
    sandbox.set_limits(page_size=10, minutely=100000, daily=100000)
    sandbox.inject_fault("/api/v1/100002/sync/CRM/Accounts*", "status", status=500, count=100)
    run = run_tap(tap_config(division_workers=4, max_retries=1))
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr[-2000:]
    assert "sync/CRM/Accounts (division 100002)" in errors[0]
    assert "500" in errors[0]
    # The first pages are the permission probe, read before any record: none was emitted.
    assert not run.records()


def test_division_workers_below_one_is_refused_naming_the_setting(
    tap_config: Callable[..., Path], run_tap: Run
) -> None:
    run = run_tap(tap_config(division_workers=0))
    assert run.returncode == 1
    assert "division_workers" in run.stderr
    assert not run.records()
