"""Divisions read in parallel (``division_workers``): the same output as one after another.

The real tap against the sandbox over HTTP, small pages so each stream has many pages per
division, and the sandbox's per-division minute budget low enough that divisions wait for
their windows (on a fast sandbox clock).

An invoice's ``status`` depends on the UTC date the tap reads it on (overdue once its due
date has passed), so runs on both sides of a UTC midnight may rightly differ there, and only
there: :func:`_dates_turned` names the due dates for which that can happen (none when every
run of a comparison began and ended on one date, the usual case, which compares everything).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .helpers import TapRun

Run = Callable[..., TapRun]


RECENT = timedelta(hours=1)
DUE_AS_THE_DATE_TURNED = "<pending or overdue: due on a date that ended between the runs>"


def _utc_today() -> date:
    return datetime.now(UTC).date()


def _dates_turned(first: date, last: date) -> frozenset[date]:
    """Due dates on which an invoice is pending for a run reading on ``first`` and overdue
    for one reading on ``last`` (overdue: the reading date is after the due date): the dates
    from ``first`` up to the day before ``last``; none when both are one date."""
    return frozenset(first + timedelta(days=n) for n in range((last - first).days))


def _status_of_the_date(record: dict[str, Any], turned: frozenset[date]) -> dict[str, Any]:
    """The invoice with its ``status`` masked when that may rightly depend on which side of a
    UTC midnight it was read: pending or overdue, due on a date in ``turned``."""
    due_at = record.get("due_at")
    if not turned or record.get("status") not in {"pending", "overdue"} or not due_at:
        return record
    due = datetime.fromisoformat(due_at.replace("Z", "+00:00")).astimezone(UTC).date()
    return {**record, "status": DUE_AS_THE_DATE_TURNED} if due in turned else record


def _messages_without_timings(
    run: TapRun, turned: frozenset[date] = frozenset()
) -> list[dict[str, Any]]:
    """Every message, with the instants a run takes from its own clock masked.

    ``time_extracted``, the bookmarks of reads on ``Modified`` (the time the read began,
    less a margin) and the SDK's signpost differ between two runs by design; so does the
    ``status`` of an invoice due on a date in ``turned`` (:func:`_dates_turned`); nothing
    else may.
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

    def mask_message(message: dict[str, Any]) -> Any:
        if message.get("type") == "RECORD" and message.get("stream") == "accounting_invoice":
            message = {**message, "record": _status_of_the_date(message["record"], turned)}
        return mask(message)

    return [mask_message(message) for message in run.messages]


def test_parallel_divisions_emit_the_same_messages_and_state_as_one_at_a_time(
    sandbox: Sandbox, tap_config: Callable[..., Path], run_tap: Run
) -> None:
    sandbox.set_limits(page_size=7, plain_page_size=5, minutely=100000, daily=100000)
    began = _utc_today()
    one = run_tap(tap_config(division_workers=1))
    four = run_tap(tap_config(division_workers=4))
    turned = _dates_turned(began, _utc_today())
    assert one.returncode == 0, one.stderr[-2000:]
    assert four.returncode == 0, four.stderr[-2000:]
    assert len(one.records()) > 300
    assert {r["division"] for r in one.records()} == {100001, 100002}
    messages = _messages_without_timings(one, turned)
    assert _messages_without_timings(four, turned) == messages
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
    began = _utc_today()
    one = run_tap(tap_config(division_workers=1), state=first.final_state)
    three = run_tap(tap_config(division_workers=3), state=first.final_state)
    turned = _dates_turned(began, _utc_today())
    assert one.returncode == 0 and three.returncode == 0, three.stderr[-2000:]
    assert {r["name"] for r in one.records("generic_company")} == {"Renamed between runs"}
    assert _messages_without_timings(three, turned) == _messages_without_timings(one, turned)


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
