"""The real tap-exact-online executable against the sandbox as a real HTTP server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from exact_online_sandbox.server import Sandbox

from .helpers import TAP, TapRun, exact_keys

Keys = Callable[..., set[tuple[int, str]]]
RunTap = Callable[..., TapRun]
Config = Callable[..., Path]

DIVISION = 100001
SYNC_STREAMS = {
    "generic_contact": "crm/Contacts",
    "generic_company": "crm/Accounts",
    "accounting_invoice_item": "logistics/Items",
}


def rest(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    token = sandbox.access_token()
    response = requests.request(
        method,
        f"{sandbox.api_url}/{DIVISION}/{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=30,
        **kwargs,
    )
    response.raise_for_status()
    return response


def first_id(sandbox: Sandbox, path: str, key: str = "ID") -> str:
    body = rest(sandbox, "GET", path, params={"$select": key, "$top": "1"}).json()["d"]
    rows = body["results"] if isinstance(body, dict) else body
    return str(rows[0][key])


@pytest.mark.parametrize(("stream", "path"), list(SYNC_STREAMS.items()))
def test_full_sync_emits_exactly_the_sandbox_rows(
    stream: str, path: str, run_tap: RunTap, tap_config: Config, sandbox_keys: Keys
) -> None:
    run = run_tap(tap_config())
    assert run.returncode == 0, run.stderr
    assert run.keys(stream) == sandbox_keys(path)


def test_full_sync_of_invoices_and_their_lines_matches_the_sandbox(
    run_tap: RunTap, tap_config: Config, sandbox_keys: Keys
) -> None:
    run = run_tap(tap_config())
    assert run.returncode == 0, run.stderr
    assert run.keys("accounting_invoice") == sandbox_keys("salesinvoice/SalesInvoices", "InvoiceID")
    assert run.keys("accounting_invoice_line_item") == sandbox_keys(
        "salesinvoice/SalesInvoiceLines"
    )
    for invoice in run.records("accounting_invoice"):
        lines = {line["id"] for line in invoice["line_items"]}
        expected = {
            line["id"]
            for line in run.records("accounting_invoice_line_item")
            if line["invoice_id"] == invoice["id"] and line["division"] == invoice["division"]
        }
        assert lines == expected


def test_users_and_workspaces_match_the_sandbox(
    run_tap: RunTap, tap_config: Config, sandbox_keys: Keys
) -> None:
    run = run_tap(tap_config())
    assert run.returncode == 0, run.stderr
    assert {r["id"] for r in run.records("generic_user")} == {
        key for _, key in sandbox_keys("users/Users", "UserID")
    }
    assert run.keys("generic_workspace") == {(100001, "100001"), (100002, "100002")}


def test_two_divisions_stay_separate(
    run_tap: RunTap, tap_config: Config, sandbox_keys: Keys
) -> None:
    run = run_tap(tap_config())
    for division in (100001, 100002):
        emitted = {k for d, k in run.keys("generic_company") if d == division}
        assert emitted == {k for _, k in sandbox_keys("crm/Accounts", divisions=(division,))}
    assert {r["division"] for r in run.records("generic_company")} == {100001, 100002}


def test_second_run_emits_exactly_the_edited_and_deleted_rows(
    sandbox: Sandbox, run_tap: RunTap, tap_config: Config, sandbox_keys: Keys
) -> None:
    config = tap_config()
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    company = first_id(sandbox, "crm/Accounts")
    rest(sandbox, "PUT", f"crm/Accounts(guid'{company}')", json={"Name": "Edited BV"})
    contact = first_id(sandbox, "crm/Contacts")
    rest(sandbox, "DELETE", f"crm/Contacts(guid'{contact}')")

    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    companies = second.records("generic_company")
    assert [(r["id"], r["name"]) for r in companies] == [(company, "Edited BV")]
    contacts = second.records("generic_contact")
    assert [(r["id"], r["_sdc_deleted_at"] is not None) for r in contacts] == [(contact, True)]
    assert second.records("accounting_invoice_item") == []
    assert second.records("accounting_invoice") == []


def test_no_change_run_costs_one_call_per_stream_per_division_plus_deletes(
    sandbox: Sandbox, run_tap: RunTap, tap_config: Config
) -> None:
    config = tap_config()
    first = run_tap(config)
    sandbox.clear_calls()
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    for stream in (
        "generic_contact",
        "generic_company",
        "accounting_invoice_item",
        "accounting_invoice",
    ):
        assert second.records(stream) == [], stream
    calls = sandbox.calls()["by_endpoint"]
    for endpoint in (
        "sync/CRM/Accounts",
        "sync/CRM/Contacts",
        "sync/Logistics/Items",
        "sync/Deleted",
    ):
        assert calls.get(f"GET {endpoint}") == 2, endpoint  # one per division


def test_payment_between_runs_updates_invoice_status_balance_and_paid_at(
    sandbox: Sandbox, run_tap: RunTap, tap_config: Config
) -> None:
    config = tap_config()
    first = run_tap(config)
    open_invoices = [
        r
        for r in first.records("accounting_invoice")
        if r["division"] == DIVISION
        and r["status"] in ("pending", "overdue")
        and r["balance"]
        and r["invoice_code"] is not None
    ]
    target = open_invoices[0]
    sandbox.book_payment(DIVISION, target["id"])

    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    paid = [r for r in second.records("accounting_invoice") if r["id"] == target["id"]]
    assert len(paid) == 1
    assert paid[0]["status"] == "paid"
    assert paid[0]["balance"] == 0
    assert paid[0]["paid_at"] is not None


def test_field_mappings_and_a_custom_stream_appear_as_columns(
    run_tap: RunTap, tap_config: Config, sandbox_keys: Keys
) -> None:
    config = tap_config(
        field_mappings={"generic_company": {"kvk": "ChamberOfCommerce"}},
        custom_streams=[
            {
                "name": "projects",
                "endpoint": "sync/Project/Projects",
                "primary_keys": ["ID"],
                "replication_key": "Timestamp",
                "select": ["ID", "Code", "Description", "Timestamp"],
            }
        ],
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    schema = next(
        m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "generic_company"
    )
    assert "kvk" in schema["schema"]["properties"]
    assert all("kvk" in r for r in run.records("generic_company"))
    projects = run.records("projects")
    assert {(r["division"], r["ID"]) for r in projects} == sandbox_keys("project/Projects")
    assert all(set(r) >= {"Code", "Description", "Timestamp"} for r in projects)


def test_unauthorized_stream_names_stream_division_and_scope(
    sandbox: Sandbox, run_tap: RunTap, tap_config: Config, tmp_path: Path
) -> None:
    config = tap_config(
        client_id="sandbox-crm-reader",
        refresh_token=sandbox.mint_refresh_token("sandbox-crm-reader"),
        token_store=str(tmp_path / "reader-tokens.json"),
    )
    run = run_tap(config)
    assert run.returncode != 0
    assert "accounting_invoice_item" in run.stderr
    assert "100001" in run.stderr
    assert "logistics.items" in run.stderr
    assert run.records() == []


def test_unauthorized_stream_is_skipped_with_a_warning_when_asked(
    sandbox: Sandbox, run_tap: RunTap, tap_config: Config, tmp_path: Path
) -> None:
    config = tap_config(
        client_id="sandbox-crm-reader",
        refresh_token=sandbox.mint_refresh_token("sandbox-crm-reader"),
        token_store=str(tmp_path / "reader-tokens.json"),
        skip_unauthorized_streams=True,
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    assert run.records("generic_company")
    assert run.records("accounting_invoice_item") == []
    assert "Skipping stream accounting_invoice_item in division 100001" in run.stderr


def test_run_killed_mid_stream_resumes_without_losing_or_duplicating(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    sandbox.reset(size={"accounts": 3500})
    sandbox.set_limits(minutely=100000, daily=100000)
    config = tap_config(refresh_token=sandbox.mint_refresh_token())
    catalog = _catalog_of(config, {"generic_company"})
    process = subprocess.Popen(
        [TAP, "--config", str(config), "--catalog", str(catalog)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    committed: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    for line in process.stdout:
        message = json.loads(line)
        if message["type"] == "RECORD":
            pending.append(message["record"])
        elif message["type"] == "STATE":
            committed.extend(pending)
            pending = []
            state = message["value"]
            if len(committed) >= 1500:
                os.kill(process.pid, signal.SIGKILL)
                break
    process.wait(timeout=30)
    assert 0 < len(committed) < 7000
    resumed = run_tap(config, state=state, catalog=json.loads(catalog.read_text()))
    assert resumed.returncode == 0, resumed.stderr
    keys = [(r["division"], r["id"]) for r in committed + resumed.records("generic_company")]
    assert len(keys) == len(set(keys))
    assert set(keys) == _all_accounts(sandbox)


def _catalog_of(config: Path, selected: set[str]) -> Path:
    done = subprocess.run(
        [TAP, "--config", str(config), "--discover"], capture_output=True, text=True, check=True
    )
    catalog = json.loads(done.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in selected
    path = config.with_name("catalog-selected.json")
    path.write_text(json.dumps(catalog))
    return path


def _all_accounts(sandbox: Sandbox) -> set[tuple[int, str]]:
    return exact_keys(sandbox, "crm/Accounts", "ID")


def test_unselected_streams_cost_no_call_and_selected_properties_drive_select(
    sandbox: Sandbox, run_tap: RunTap, tap_config: Config
) -> None:
    config = tap_config()
    catalog_path = _catalog_of(config, {"generic_company"})
    catalog = json.loads(catalog_path.read_text())
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            prop = entry["breadcrumb"][-1] if entry["breadcrumb"] else None
            if stream["tap_stream_id"] == "generic_company" and prop in ("email", "phone"):
                entry["metadata"]["selected"] = False
    sandbox.clear_calls()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    used = {key for key in sandbox.calls()["by_endpoint"] if key.startswith("GET ")}
    assert used == {"GET sync/CRM/Accounts", "GET sync/Deleted"}
    companies = run.records("generic_company")
    assert companies
    assert all("email" not in r and "phone" not in r and "name" in r for r in companies)


def test_spent_daily_budget_stops_cleanly_with_state_and_resumes(
    sandbox: Sandbox, run_tap: RunTap, tap_config: Config, sandbox_keys: Keys
) -> None:
    expected = sandbox_keys("crm/Accounts")
    sandbox.set_limits(minutely=100000, daily=5)
    config = tap_config()
    stopped = run_tap(config)
    assert stopped.returncode != 0
    assert "resume" in stopped.stderr
    assert "resets at" in stopped.stderr
    sandbox.set_limits(daily=100000)
    resumed = run_tap(config, state=stopped.final_state)
    assert resumed.returncode == 0, resumed.stderr
    assert stopped.keys("generic_company") | resumed.keys("generic_company") == expected


def test_discover_with_check_permissions_names_the_stream_and_scope(
    sandbox: Sandbox, tap_config: Config, tmp_path: Path
) -> None:
    reader_token = sandbox.mint_refresh_token("sandbox-crm-reader")
    config = tap_config(
        client_id="sandbox-crm-reader",
        refresh_token=reader_token,
        token_store=str(tmp_path / "reader-tokens.json"),
        check_permissions=True,
    )
    refused = subprocess.run(
        [TAP, "--config", str(config), "--discover"], capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0
    assert "logistics.items" in refused.stderr
    skipping = tap_config(
        client_id="sandbox-crm-reader",
        refresh_token=reader_token,
        token_store=str(tmp_path / "reader-tokens.json"),
        check_permissions=True,
        skip_unauthorized_streams=True,
    )
    done = subprocess.run(
        [TAP, "--config", str(skipping), "--discover"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    names = {s["tap_stream_id"] for s in json.loads(done.stdout)["streams"]}
    assert "generic_company" in names
    assert "accounting_invoice_item" not in names
