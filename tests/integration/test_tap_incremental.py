"""What incremental runs promise, end to end: ``start_date`` bounds the first sync, and each
deletion in Exact arrives once, in its own stream and division.

The real tap executable against the sandbox as a real HTTP server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from exact_online_core.mappings.converters import exact_instant, parse_rfc3339
from exact_online_sandbox.server import Sandbox

from .helpers import TAP, TapRun, rest, rows_of, run_until, selected_catalog

RunTap = Callable[..., TapRun]
Config = Callable[..., Path]
OTHER = 100002


def modified(sandbox: Sandbox, path: str, key: str, division: int) -> dict[str, datetime]:
    """Every row's Modified on ``path`` (one page: the seeded sizes are small)."""
    body = rest(sandbox, "GET", path, division, params={"$select": f"{key},Modified"}).json()
    rows = body["d"]["results"]
    assert "__next" not in body["d"]
    found = {str(r[key]): exact_instant(r["Modified"]) for r in rows}
    return {k: v for k, v in found.items() if v is not None}


def test_start_date_bounds_the_first_sync_of_users_and_the_next_run_continues_from_state(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    users = modified(sandbox, "users/Users", "UserID", OTHER)
    start = sorted(users.values())[len(users) // 2]
    config = tap_config(divisions=[OTHER], start_date=start.isoformat())
    catalog = selected_catalog(json.loads(config.read_text()), {"generic_user"})
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    expected = {key for key, when in users.items() if when >= start}
    assert 0 < len(expected) < len(users)
    assert {r["id"] for r in first.records("generic_user")} == expected
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.returncode == 0, second.stderr
    assert second.records("generic_user") == []


def test_start_date_bounds_the_first_sync_of_a_filtered_stream(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    accounts = modified(sandbox, "bulk/CRM/Accounts", "ID", OTHER)
    start = sorted(accounts.values())[len(accounts) // 3]
    config = tap_config(divisions=[OTHER], start_date=start.isoformat(),
                        filters={"generic_company": "IsSales eq true"})
    catalog = selected_catalog(json.loads(config.read_text()), {"generic_company"})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    got = {r["id"]: parse_rfc3339(r["updated_at"]) for r in run.records("generic_company")}
    assert set(got) == {key for key, when in accounts.items() if when >= start}
    assert 0 < len(got) < len(accounts)


PROJECTS = {"name": "projects", "endpoint": "sync/Project/Projects", "primary_keys": ["ID"],
            "replication_key": "Timestamp", "select": ["ID", "Code", "Description", "Timestamp"]}
DELETABLE: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
    # stream: (Exact entity, a body that creates a row nothing else refers to)
    "generic_company": ("crm/Accounts", lambda n: {"Name": f"Short-lived {n}"}),
    "accounting_invoice_item": ("logistics/Items", lambda n: {"Code": f"GONE{n}",
                                                              "Description": "Short-lived"}),
    "projects": ("project/Projects", lambda n: {"Code": f"GONE{n}", "Description": "x",
                                                "Type": 2}),
}


def key(record: dict[str, Any]) -> str:
    """A record's Exact key: ``id`` (unified models) or ``ID`` (custom streams, raw)."""
    return str(record.get("id") or record.get("ID"))


def contact_body(sandbox: Sandbox, n: int) -> dict[str, Any]:
    account = rest(sandbox, "GET", "crm/Accounts", OTHER, params={"$select": "ID", "$top": "1"})
    return {"Account": rows_of(account)[0]["ID"], "LastName": f"Short-lived {n}"}


@pytest.mark.parametrize("stream", ["generic_contact", *DELETABLE])
def test_a_deletion_arrives_once_in_its_own_stream_and_division(
    stream: str, sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    entity, body = DELETABLE.get(stream, ("crm/Contacts", lambda n: contact_body(sandbox, n)))
    doomed = rest(sandbox, "POST", entity, OTHER, json=body(1)).json()["d"]["ID"]
    config = tap_config(custom_streams=[PROJECTS])
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    assert (OTHER, doomed) in {(r["division"], key(r)) for r in first.records(stream)}
    rest(sandbox, "DELETE", f"{entity}(guid'{doomed}')", OTHER)

    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    tombstones = [(m["stream"], m["record"]) for m in second.messages
                  if m["type"] == "RECORD" and m["record"].get("_sdc_deleted_at")]
    assert [(s, r["division"], key(r)) for s, r in tombstones] == [(stream, OTHER, doomed)]
    third = run_tap(config, state=second.final_state)
    assert third.returncode == 0, third.stderr
    assert not [r for r in third.records() if r.get("_sdc_deleted_at")], "sent once only"


def test_a_deletion_made_after_the_deletion_feed_was_read_comes_with_the_next_run(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    config = tap_config(divisions=[OTHER])
    catalog = selected_catalog(json.loads(config.read_text()), {"generic_contact"})
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    victim: list[str] = []

    def delete_once_reading(messages: list[dict[str, Any]]) -> bool:
        if not victim and messages[-1]["type"] == "RECORD":  # sync/Deleted was read before
            victim.append(messages[-1]["record"]["id"])
            rest(sandbox, "DELETE", f"crm/Contacts(guid'{victim[0]}')", OTHER)
        return False

    first = run_until([TAP, "--config", str(config), "--catalog", str(catalog_path)],
                      delete_once_reading)
    states = [m["value"] for m in first if m["type"] == "STATE"]
    assert victim and states
    second = run_tap(config, state=states[-1], catalog=catalog)
    assert second.returncode == 0, second.stderr
    assert [(r["id"], bool(r["_sdc_deleted_at"])) for r in second.records("generic_contact")
            ] == [(victim[0], True)]
