"""Every property of every record the tap emits is declared in its stream's SCHEMA."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exact_online_sandbox.server import Sandbox

from .helpers import TapRun


def undeclared(run: TapRun) -> dict[str, set[str]]:
    schemas = {m["stream"]: set(m["schema"]["properties"]) for m in run.messages
               if m["type"] == "SCHEMA"}
    found: dict[str, set[str]] = {}
    for message in run.messages:
        if message["type"] == "RECORD":
            extra = set(message["record"]) - schemas[message["stream"]]
            if extra:
                found.setdefault(message["stream"], set()).update(extra)
    return found


def test_records_and_deletions_carry_only_declared_properties(
    sandbox: Sandbox, tap_config: Callable[..., Path], run_tap: Callable[..., TapRun]
) -> None:
    config = tap_config()
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-3000:]
    token = sandbox.access_token()
    contact = sandbox.call(token, "crm/Contacts?$select=ID&$top=1").json()["d"][0]  # bare d
    assert sandbox.call(token, f"crm/Contacts(guid'{contact['ID']}')", "DELETE").ok
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert [r["_sdc_deleted_at"] is not None for r in second.records("generic_contact")] == [True]
    assert undeclared(first) == {} and undeclared(second) == {}


def test_users_and_workspaces_declare_no_deleted_at(
    tap_config: Callable[..., Path], run_tap: Callable[..., TapRun]
) -> None:
    run = run_tap(tap_config())
    assert run.returncode == 0, run.stderr[-3000:]
    schemas = {m["stream"]: m["schema"]["properties"] for m in run.messages
               if m["type"] == "SCHEMA"}
    assert [s for s in schemas if "_sdc_deleted_at" not in schemas[s]] == [
        "generic_user", "generic_workspace"]
