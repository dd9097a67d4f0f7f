"""Interrupted runs resume where they stopped: only the pages not yet read are asked for,
and no record a target already committed is sent again.

The real tap executable against the sandbox; calls are counted by the sandbox itself
(``GET /_sandbox/calls``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .helpers import (
    TAP,
    TapRun,
    committed,
    exact_keys,
    page_states,
    run_until,
    selected_catalog,
)

RunTap = Callable[..., TapRun]
Config = Callable[..., Path]
DIVISION = 100001
CONTACTS = 3500  # four pages of sync/CRM/Contacts


def contacts_setup(sandbox: Sandbox, tap_config: Config, tmp_path: Path, **settings: Any
                   ) -> tuple[Path, dict[str, Any], Path]:
    sandbox.reset(size={"contacts": CONTACTS})
    sandbox.set_limits(minutely=100000, daily=100000)
    config = tap_config(refresh_token=sandbox.mint_refresh_token(), divisions=[DIVISION],
                        **settings)
    catalog = selected_catalog(json.loads(config.read_text()), {"generic_contact"})
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    return config, catalog, catalog_path


def budget_setup(sandbox: Sandbox, tap_config: Config, tmp_path: Path, daily: int
                 ) -> tuple[Path, dict[str, Any]]:
    """The contacts set-up on a sandbox with fresh call counters and ``daily`` calls today."""
    _, catalog, _ = contacts_setup(sandbox, tap_config, tmp_path)
    sandbox.reset(size={"contacts": CONTACTS})  # fresh call counters for today
    config = tap_config(refresh_token=sandbox.mint_refresh_token(), divisions=[DIVISION])
    sandbox.set_limits(minutely=100000, daily=daily)
    return config, catalog


def settle(sandbox: Sandbox) -> None:
    """Wait until the sandbox has answered (and counted) every request it received."""
    before = -1
    while (count := sandbox.calls()["total"]) != before:
        before = count
        time.sleep(0.5)


def keys(records: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(r["division"], r["id"]) for r in records]


def test_resume_reads_only_the_pages_not_yet_read_and_resends_no_committed_row(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    config, catalog, catalog_path = contacts_setup(sandbox, tap_config, tmp_path)
    killed = run_until([TAP, "--config", str(config), "--catalog", str(catalog_path)],
                       lambda messages: len(page_states(messages, "generic_contact")) == 2)
    records, state = committed(killed)
    assert len(records) == 2000, "a STATE after each of the first two pages"

    settle(sandbox)  # a request the killed tap sent may still be in the sandbox's hands
    sandbox.clear_calls()
    resumed = run_tap(config, state=state, catalog=catalog)
    assert resumed.returncode == 0, resumed.stderr
    assert sandbox.calls()["by_endpoint"].get("GET sync/CRM/Contacts") == 2, "pages 3 and 4"
    again = set(keys(records)) & set(keys(resumed.records("generic_contact")))
    assert not again, f"{len(again)} committed records sent again"
    every = keys(records) + keys(resumed.records("generic_contact"))
    assert set(every) == exact_keys(sandbox, "crm/Contacts", "ID", divisions=(DIVISION,))


def test_every_page_is_followed_by_a_state_holding_that_pages_bookmark(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    config, catalog, _ = contacts_setup(sandbox, tap_config, tmp_path)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    seen: list[int] = []
    marks: list[int] = []
    for message in run.messages:
        if message["type"] == "RECORD":
            seen.append(message["record"]["exact_timestamp"])
        elif message["type"] == "STATE" and seen:
            [partition] = message["value"]["bookmarks"]["generic_contact"]["partitions"]
            if partition.get("replication_key_value") not in (None, *marks):
                marks.append(partition["replication_key_value"])
                assert partition["replication_key_value"] == max(seen)
    assert len(marks) == 4, "one new bookmark per page"


def test_daily_budget_spent_mid_sync_stops_with_state_and_the_resume_reads_the_rest(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    config, catalog = budget_setup(sandbox, tap_config, tmp_path, daily=3)
    # the budget: sync/Deleted, then pages 1 and 2
    stopped = run_tap(config, catalog=catalog)
    assert stopped.returncode == 3, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr
    assert "daily API call limit" in stopped.stderr and f"division {DIVISION}" in stopped.stderr
    assert "stream generic_contact" in stopped.stderr and "resume" in stopped.stderr
    records, state = committed(stopped.messages)
    assert len(records) == 2000, "stopped mid-sync, after two pages"

    sandbox.set_limits(daily=100000)
    sandbox.clear_calls()
    resumed = run_tap(config, state=state, catalog=catalog)
    assert resumed.returncode == 0, resumed.stderr
    assert sandbox.calls()["by_endpoint"].get("GET sync/CRM/Contacts") == 2, "pages 3 and 4"
    assert not set(keys(records)) & set(keys(resumed.records("generic_contact")))
    assert set(keys(records) + keys(resumed.records("generic_contact"))) == exact_keys(
        sandbox, "crm/Contacts", "ID", divisions=(DIVISION,))


def test_daily_budget_spent_before_the_first_record_stops_with_exit_3_and_no_traceback(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    # Another app spent the day's budget: the first call of the run (the deletion feed,
    # read while the first pages are opened) is already refused.
    config, catalog = budget_setup(sandbox, tap_config, tmp_path, daily=0)
    stopped = run_tap(config, catalog=catalog)
    assert stopped.returncode == 3, stopped.stderr[-2000:]
    assert "unhandled error" not in stopped.stderr and "Traceback" not in stopped.stderr
    assert "daily API call limit" in stopped.stderr
    assert f"division {DIVISION}, before the first record" in stopped.stderr
    assert committed(stopped.messages)[0] == []
