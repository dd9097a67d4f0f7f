"""A daily budget spent before the first record stops a sync the documented way wherever the
tap meets it: the `Stopping: ... (division N, before the first record)` line and exit 3, no
`error:` line, and the state the run was given still the one to resume from.

Beside the first pages (tests/integration/test_tap_resume.py), a sync calls Exact before any
record to list the divisions (``divisions: "all"``) and, without a catalog, to probe every
stream (``check_permissions``). ``--discover`` alone is no sync: there the error stands (one
``error:`` line, exit 1). The real tap executable against the sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .helpers import TapRun

RunTap = Callable[..., TapRun]
Config = Callable[..., Path]

STOP = re.compile(
    r"Stopping: GET (?P<endpoint>[\w/]+) \(division 100001\): the daily API call limit for "
    r"this division is spent\. The daily budget resets at \S+; resume after that\. "
    r"\(division 100001, before the first record\)\. State is saved; run again after the "
    r"reset to continue where this run stopped\."
)


def stop_line(run: TapRun) -> re.Match[str]:
    """The one documented stop line of a run stopped by its budget before any record."""
    assert run.returncode == 3, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert not [line for line in run.stderr.splitlines() if line.startswith("error:")]
    stops = [line.split("| ")[-1] for line in run.stderr.splitlines() if "Stopping: " in line]
    assert len(stops) == 1, run.stderr[-3000:]
    found = STOP.fullmatch(stops[0])
    assert found, stops[0]
    assert not run.records()
    return found


def rename_a_company(sandbox: Sandbox, run: TapRun) -> str:
    company = next(r for r in run.records("generic_company") if r["division"] == 100001)
    renamed = sandbox.call(sandbox.access_token(), f"crm/Accounts(guid'{company['id']}')", "PUT",
                           division=100001, json={"Name": "Renamed before the budget ran out"})
    assert renamed.status_code == 204
    return str(company["id"])


def test_budget_spent_listing_all_divisions_stops_with_exit_3_and_the_state_resumes(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    sandbox.set_limits(minutely=100000, daily=100000)
    config = tap_config(divisions="all")
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-3000:]
    state = first.final_state
    renamed = rename_a_company(sandbox, first)

    sandbox.set_limits(daily=0)  # spent, e.g. by another app: system/Divisions is refused
    stopped = run_tap(config, state=state)
    assert stop_line(stopped)["endpoint"] == "system/Divisions"
    emitted: list[dict[str, Any]] = [m["value"] for m in stopped.messages if m["type"] == "STATE"]
    assert all(value == state for value in emitted), "the state handed in is kept as it was"

    sandbox.set_limits(daily=100000)  # the reset
    resumed = run_tap(config, state=state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["id"] for r in resumed.records("generic_company")] == [renamed]


def test_budget_spent_probing_permissions_without_a_catalog_stops_with_exit_3(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    sandbox.set_limits(minutely=100000, daily=0)
    stopped = run_tap(tap_config(check_permissions=True))
    stop_line(stopped)
    assert not [m for m in stopped.messages if m["type"] == "STATE"]


def test_budget_spent_in_discover_alone_is_one_error_line_and_exit_1(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    # `--discover` is no sync: no state to resume from, so no `Stopping:` promise either.
    sandbox.set_limits(minutely=100000, daily=0)
    run = run_tap(tap_config(check_permissions=True), extra=("--discover",))
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Stopping: " not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr[-3000:]
    assert "daily API call limit" in errors[0] and "resets at" in errors[0], errors[0]
