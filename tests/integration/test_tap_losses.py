"""Changes made while the tap runs, or between an interrupted run and its resume, all arrive.

Each test is one way the warehouse once drifted from Exact (issue #12): the real tap
executable against the sandbox as a real HTTP server, with the change made at the moment
that used to lose it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .helpers import TAP, TapRun, committed, page_states, rest, run_until, selected_catalog

RunTap = Callable[..., TapRun]
Config = Callable[..., Path]
DIVISION = 100001


def deleted(records: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in records if r.get("_sdc_deleted_at")}


def test_resumed_first_sync_emits_the_deletions_made_since_it_started(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    sandbox.reset(size={"contacts": 1500})  # two pages of sync/CRM/Contacts
    sandbox.set_limits(minutely=100000, daily=100000)
    config = tap_config(refresh_token=sandbox.mint_refresh_token(), divisions=[DIVISION])
    catalog = selected_catalog(json.loads(config.read_text()), {"generic_contact"})
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))

    first = run_until([TAP, "--config", str(config), "--catalog", str(catalog_path)],
                      lambda messages: bool(page_states(messages, "generic_contact")))
    records, state = committed(first)
    assert 0 < len(records) <= 1000, "killed after the first page"
    victim = records[0]["id"]
    rest(sandbox, "DELETE", f"crm/Contacts(guid'{victim}')")

    resumed = run_tap(config, state=state, catalog=catalog)
    assert resumed.returncode == 0, resumed.stderr
    assert victim in deleted(resumed.records("generic_contact"))
