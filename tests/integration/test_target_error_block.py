"""The real target against the sandbox's error block (Exact blocks an app for an hour once over
10 refused calls per endpoint and division): its guard stops first, and a block met is named."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .test_target_support import DIVISION, calls, run_target, singer, target_config

N = 20


def orphan_contacts(n: int = N) -> str:
    """Contacts the target accepts but Exact refuses (400 "Invalid: Account"): their company
    does not exist."""
    return singer("generic_contact", [
        {"first_name": "Orphan", "last_name": f"Contact {i}", "company_id": str(uuid.uuid4())}
        for i in range(n)])


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_the_default_guard_stops_before_exact_blocks_the_app(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    before = sandbox.row_count("crm/Contacts")
    run = run_target(target_config(settings, tmp_path), tmp_path, orphan_contacts())
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = error_lines(run.stderr)
    for needle in ("before Exact Online blocks this app", "crm/Contacts", str(DIVISION)):
        assert needle in line, (needle, line)
    assert calls(sandbox, "POST", "crm/Contacts") == 8
    assert run.outcomes() == ["failed"] * 8
    assert all("Invalid: Account" in r["error"] for r in run.records)
    assert sandbox.set_limits()["error_blocks"] == [], "the sandbox never blocked"
    assert sandbox.row_count("crm/Contacts") == before
    assert run.stdout == ""


def test_a_guard_above_exacts_limit_meets_the_block_and_names_it(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    before = sandbox.row_count("crm/Contacts")
    config = target_config(settings, tmp_path, error_limit=30, max_retries=0)
    run = run_target(config, tmp_path, orphan_contacts())
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = error_lines(run.stderr)
    for needle in ("POST crm/Contacts", f"division {DIVISION}", "429", "Too many errors"):
        assert needle in line, (needle, line)
    assert calls(sandbox, "POST", "crm/Contacts") == 11, "stopped at the block"
    assert run.outcomes() == ["failed"] * 11
    assert "Too many errors" in run.records[-1]["error"]
    [block] = sandbox.set_limits()["error_blocks"]
    assert (block["division"], block["endpoint"]) == (DIVISION, "crm/contacts")
    assert sandbox.row_count("crm/Contacts") == before
    assert run.stdout == ""
