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


def some_account(sandbox: Sandbox) -> str:
    rows = sandbox.call(sandbox.access_token(), "crm/Accounts?$top=1&$select=ID").json()["d"]
    return str(rows[0]["ID"])


def test_the_default_guard_stops_before_exact_blocks_the_app_and_writes_nothing_twice(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    account = some_account(sandbox)
    records = [{"first_name": "Mixed", "last_name": f"Contact {i}",
                "company_id": str(uuid.uuid4()) if i % 2 == 0 else account} for i in range(N)]
    text = singer("generic_contact", records, state={"done": N})
    config = target_config(settings, tmp_path)
    before = sandbox.row_count("crm/Contacts")
    run = run_target(config, tmp_path, text)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = error_lines(run.stderr)
    for needle in ("before Exact Online blocks this app", "crm/Contacts", str(DIVISION),
                   "Nothing more was sent", "UTC"):
        assert needle in line, (needle, line)
    # the 8th refusal is record 14: records 0..14 sent, 16..19 never read
    assert run.outcomes() == ["failed", "created"] * 7 + ["failed"]
    assert all("Invalid: Account" in r["error"] for r in run.records if r["outcome"] == "failed")
    assert calls(sandbox, "POST", "crm/Contacts") == 15
    assert sandbox.row_count("crm/Contacts") == before + 7
    assert sandbox.set_limits()["error_blocks"] == [], "the sandbox never blocked"
    assert run.stdout == "", "no STATE: the records not written come again next run"

    again = run_target(config, tmp_path, text)
    assert again.returncode == 1
    assert calls(sandbox, "POST", "crm/Contacts") == 15, "nothing sent within the hour"
    assert "not sent" in again.records[0]["error"]
    assert sandbox.row_count("crm/Contacts") == before + 7


def test_a_guard_above_exacts_limit_meets_the_block_and_names_it(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    before = sandbox.row_count("crm/Contacts")
    # max_retries 0: the core waits a minute of real time on each 429 before retrying (a
    # throttled minute); with the retries the run ends the same way, minutes later
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
