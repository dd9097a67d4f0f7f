"""target-exact-online against the sandbox: never twice, unknown outcomes, refusals, dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox

from .test_target_support import (
    DATA,
    DIVISION,
    TARGET,
    calls,
    read_results,
    run_target,
    singer,
    target_config,
    write_calls,
    write_config,
)

ACCOUNTS = "crm/Accounts"


def companies(n: int, prefix: str = "BULK") -> list[dict[str, Any]]:
    return [{"name": f"Bulk company {i}", "code": f"{prefix}{i:04d}", "country": "NL"}
            for i in range(n)]


def codes_in_exact(sandbox: Sandbox, prefix: str) -> list[str]:
    token = sandbox.access_token()
    found: list[str] = []
    url = f"crm/Accounts?$select=Code&$filter=startswith(trim(Code), '{prefix}')"
    response = sandbox.call(token, url)
    response.raise_for_status()
    body = response.json()["d"]
    found += [row["Code"].strip() for row in body["results"]]
    while body.get("__next"):
        response = sandbox.call(token, body["__next"].split(f"/{DIVISION}/", 1)[1])
        body = response.json()["d"]
        found += [row["Code"].strip() for row in body["results"]]
    return found


def test_replay_after_kill_9_creates_no_duplicates(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    sandbox.set_limits(minutely=100000, daily=1000000)
    n = 120
    config = target_config(settings, tmp_path)
    before = sandbox.row_count(ACCOUNTS)
    text = singer("generic_company", companies(n), state={"done": n})
    input_file = tmp_path / "input.singer"
    input_file.write_text(text)
    with open(input_file) as stdin:
        proc = subprocess.Popen([str(TARGET), "--config", str(write_config(config, tmp_path))],
                                stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(read_results(config)) < 15 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert stdout == b"", "no STATE before the run ended"
    landed = sandbox.row_count(ACCOUNTS) - before
    assert 0 < landed < n, "killed mid-run"

    replay = run_target(config, tmp_path, text, timeout=300)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert sandbox.row_count(ACCOUNTS) == before + n
    codes = codes_in_exact(sandbox, "BULK")
    assert len(codes) == len(set(codes)) == n
    outcomes = replay.outcomes()
    assert outcomes.count("unchanged") >= landed - 1  # one may be recovered by its code
    assert outcomes.count("created") + outcomes.count("unchanged") == n
    assert replay.states == [{"done": n}]
    assert calls(sandbox, "POST", ACCOUNTS) == n


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"kind": "reset", "after": True}, id="reset-after-executing"),
        pytest.param({"kind": "delay", "seconds": 2.5}, id="timeout"),
    ],
)
def test_post_with_unknown_outcome_is_not_resent_blindly(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path, fault: dict[str, Any]
) -> None:
    config = target_config(settings, tmp_path, timeout=1)
    before = sandbox.row_count(ACCOUNTS)
    sandbox.inject_fault("*/crm/Accounts", method="POST", **fault)
    text = singer("generic_company", [{"name": "Maybe B.V.", "code": "MAYBE1"}])
    first = run_target(config, tmp_path, text)
    deadline = time.monotonic() + 10
    while sandbox.row_count(ACCOUNTS) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox.row_count(ACCOUNTS) == before + 1  # the POST did reach Exact
    [result] = first.records
    if fault["kind"] == "reset":
        assert result["outcome"] == "created", result  # found again by its code
        assert first.returncode == 0
    else:
        # Exact was still working on it when the lookup ran: a person must check
        assert result["outcome"] in ("created", "unknown"), result
    replay = run_target(config, tmp_path, text)
    assert replay.returncode == 0, replay.stderr[-2000:]
    assert replay.outcomes()[0] in ("created", "unchanged")
    assert sandbox.row_count(ACCOUNTS) == before + 1
    assert calls(sandbox, "POST", ACCOUNTS) == 1
    assert replay.records[0]["exact_id"] == (result["exact_id"] or replay.records[0]["exact_id"])


def test_unknown_outcome_without_natural_key_is_reported_for_a_person(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    token = sandbox.access_token()
    account = sandbox.call(token, "crm/Accounts?$top=1&$select=ID").json()["d"][0]
    config = target_config(settings, tmp_path)
    sandbox.inject_fault("*/crm/Contacts", method="POST", kind="reset", after=True)
    text = singer("generic_contact", [{"first_name": "Un", "last_name": "Known",
                                       "company_id": account["ID"]}])
    for _ in range(2):  # the replay does not re-send it either
        run = run_target(config, tmp_path, text)
        assert run.returncode == 1
        [result] = run.records
        assert result["outcome"] == "unknown"
        assert "NOT sent again" in result["error"]
        assert run.states == []
    assert calls(sandbox, "POST", "crm/Contacts") == 1


def test_processed_invoice_gets_a_clear_refusal(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    token = sandbox.access_token()
    url = "salesinvoice/SalesInvoices?$filter=Status eq 50&$top=1&$select=InvoiceID"
    invoice = sandbox.call(token, url).json()["d"][0]["InvoiceID"]
    config = target_config(settings, tmp_path)
    records = [{"id": invoice, "division": DIVISION, "note": "too late"},
               {"id": invoice, "division": DIVISION, "_sdc_deleted_at": "2024-05-01T00:00:00Z"}]
    run = run_target(config, tmp_path, singer("accounting_invoice", records))
    assert run.returncode == 1
    assert run.outcomes() == ["failed", "failed"]
    for result in run.records:
        assert "processed" in result["error"], result
    assert calls(sandbox, "PUT", "salesinvoice/SalesInvoices") == 0
    assert calls(sandbox, "DELETE", "salesinvoice/SalesInvoices") == 0


def test_user_stream_is_refused_at_its_schema(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    config = target_config(settings, tmp_path)
    sandbox.clear_calls()
    run = run_target(config, tmp_path, DATA / "users_refused.singer")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "no write API" in run.stderr
    at_schema, its_record = run.records
    assert [(r["stream"], r["outcome"], r["line"]) for r in run.records] == [
        ("generic_user", "failed", 1), ("generic_user", "failed", 2)]
    assert "no write API" in at_schema["error"]
    assert "refused at its SCHEMA (line 1)" in its_record["error"]
    assert write_calls(sandbox) == 0


def test_bad_records_get_one_error_each_and_good_ones_land(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    config = target_config(settings, tmp_path)
    before = sandbox.row_count(ACCOUNTS)
    run = run_target(config, tmp_path, DATA / "companies_mixed.singer")
    assert run.returncode == 1
    assert run.outcomes() == ["created", "failed", "failed", "created", "failed", "failed",
                              "failed", "created"]
    errors = [r["error"] for r in run.records if r["outcome"] == "failed"]
    for needle in ("'name'", "not a GUID", "42", "100003", "yesterday"):
        assert sum(needle in e for e in errors) == 1, (needle, errors)
    assert sandbox.row_count(ACCOUNTS) == before + 3
    assert run.states == []  # withheld: the failed records must be seen again
    assert run.summary["generic_company"]["failed"] == 5

    allowed = target_config(settings, tmp_path, allow_failures=True)
    again = run_target(allowed, tmp_path, DATA / "companies_mixed.singer")
    assert again.returncode == 0
    assert again.outcomes().count("unchanged") == 3
    assert again.states == [{"bookmarks": {"generic_company": {"position": 9}}}]
    assert sandbox.row_count(ACCOUNTS) == before + 3


def test_dry_run_writes_nothing(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    token = sandbox.access_token()
    account = sandbox.call(token, "crm/Accounts?$top=1&$select=ID").json()["d"][0]
    config = target_config(settings, tmp_path, dry_run=True)
    before = sandbox.row_count(ACCOUNTS)
    sandbox.clear_calls()
    text = singer("generic_company", [
        {"name": "Dry B.V.", "code": "DRY1"},
        {"id": account["ID"], "division": DIVISION, "name": "Renamed"},
        {"id": account["ID"], "division": DIVISION, "_sdc_deleted_at": "2024-05-01T00:00:00Z"},
    ])
    run = run_target(config, tmp_path, text)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.outcomes() == ["created", "updated", "deleted"]
    assert all(r["dry_run"] for r in run.records)
    assert [r["call"].split(" ")[0] for r in run.records] == ["POST", "PUT", "DELETE"]
    assert "would POST crm/Accounts" in run.stderr
    assert sandbox.calls()["total"] == 0  # no HTTP at all, not even a token refresh
    assert sandbox.row_count(ACCOUNTS) == before
    assert not (tmp_path / "target-exact-online.ledger.sqlite").exists()


def test_secrets_never_appear_in_output_results_or_ledger(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    config = target_config(settings, tmp_path, allow_failures=True)
    sandbox.inject_fault("*/crm/Accounts", method="POST", kind="status", status=400,
                         message="Mandatory: something")
    run = run_target(config, tmp_path, singer("generic_company", companies(3, "SEC")))
    assert run.returncode == 0, run.stderr[-2000:]
    tokens = json.loads(Path(settings["token_store"]).read_text())
    secrets = [settings["client_secret"], settings["refresh_token"],
               *(v for v in tokens.values() if isinstance(v, str) and len(v) > 12)]
    ledger = (tmp_path / "target-exact-online.ledger.sqlite").read_bytes()
    results = Path(config["results_path"]).read_text()
    for secret in secrets:
        assert secret not in run.stdout
        assert secret not in run.stderr
        assert secret not in results
        assert secret.encode() not in ledger
