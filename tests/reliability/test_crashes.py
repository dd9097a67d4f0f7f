"""Crashes: the real executables killed with SIGKILL at random points, then resumed or replayed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration.helpers import exact_keys
from integration.test_target_support import schema_message

from exact_online_sandbox.server import Sandbox

from .conftest import TAP, TARGET, discover, run_executable, write_json

STREAMS = {"generic_company": "crm/Accounts", "generic_contact": "crm/Contacts"}
RUNS = 20


def tap_until_killed(command: list[str], out: Path, label: str, kill_after_records: int | None,
                     kill_after_seconds: float | None) -> list[dict[str, Any]]:
    """Run the tap, SIGKILL it after that many RECORDs or seconds; its parsed messages."""
    with open(out / f"{label}.stderr", "w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    timer = None
    if kill_after_seconds is not None:
        timer = threading.Timer(kill_after_seconds, proc.kill)
        timer.start()
    messages: list[dict[str, Any]] = []
    records = 0
    with open(out / f"{label}.stdout", "w") as copy:
        for line in proc.stdout:
            copy.write(line)
            if not line.endswith("\n"):
                break  # cut off by the kill
            message = json.loads(line)
            messages.append(message)
            if message["type"] == "RECORD":
                records += 1
                if kill_after_records is not None and records >= kill_after_records:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
    proc.wait(timeout=120)
    if timer is not None:
        timer.cancel()
    return messages


def committed(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    """RECORDs before the last STATE (what a target commits), and that STATE."""
    last = max((i for i, m in enumerate(messages) if m["type"] == "STATE"), default=-1)
    state = messages[last]["value"] if last >= 0 else None
    return [m for m in messages[:last + 1] if m["type"] == "RECORD"], state


@pytest.mark.slow
def test_tap_killed_at_random_points_in_20_runs_resumes_to_every_row(
    sandbox: Sandbox, make_settings: Callable[..., dict[str, Any]], tmp_path: Path,
    out_dir: Path,
) -> None:
    sandbox.reset(size={"accounts": 4500, "contacts": 2500, "items": 10, "invoices": 5})
    sandbox.set_limits(minutely=10**6, daily=10**7, token_daily=10**5)
    config = make_settings(sandbox)
    config_path = write_json(tmp_path / "config.json", config)
    catalog_path = write_json(tmp_path / "catalog.json", discover(config, set(STREAMS)))
    expected = {s: exact_keys(sandbox, path, "ID") for s, path in STREAMS.items()}
    rng = random.Random(20)
    emitted: dict[str, set[tuple[int, str]]] = {s: set() for s in STREAMS}
    state: Any = None
    kills = 0
    for run in range(RUNS + 1):
        command = [TAP, "--config", str(config_path), "--catalog", str(catalog_path)]
        if state is not None:
            command += ["--state", str(write_json(out_dir / f"state-{run}.json", state))]
        last = run == RUNS
        by_time = not last and rng.random() < 0.3  # also during start-up and between pages
        messages = tap_until_killed(
            command, out_dir, f"run-{run}",
            kill_after_records=None if last or by_time else rng.randint(1, 2500),
            kill_after_seconds=rng.uniform(0.3, 3.0) if by_time else None)
        records, new_state = committed(messages)
        kills += not last
        for m in records:
            emitted[m["stream"]].add((m["record"]["division"], m["record"]["id"]))
        state = new_state if new_state is not None else state
    assert kills == RUNS
    assert emitted == expected, {s: len(expected[s] - emitted[s]) for s in STREAMS}


# -- the target ------------------------------------------------------------------------------


def company_messages(sandbox: Sandbox) -> tuple[str, dict[str, Any]]:
    """60 creates, 20 updates and 20 deletes of companies; what each should end as."""
    token = sandbox.access_token()
    rows = sandbox.call(token, "crm/Accounts?$select=ID,Name&$top=20").json()["d"]
    for i in range(20):  # accounts no invoice uses, so Exact lets them be deleted
        created = sandbox.call(token, "crm/Accounts", "POST",
                               json={"Name": f"Doomed {i}", "Code": f"DOOMED{i}"})
        created.raise_for_status()
        rows.append({"ID": created.json()["d"]["ID"]})
    records: list[dict[str, Any]] = []
    expect: dict[str, Any] = {"created": {}, "updated": {}, "deleted": set()}
    for i in range(60):
        code = f"CRASH{i:03d}"
        records.append({"name": f"Crash test {i} 'ü'", "code": code, "country": "NL"})
        expect["created"][code] = f"Crash test {i} 'ü'"
    for i, row in enumerate(rows[:20]):
        records.append({"id": row["ID"], "division": 100001, "name": f"Updated {i}"})
        expect["updated"][row["ID"]] = f"Updated {i}"
    for row in rows[20:40]:
        records.append({"id": row["ID"], "division": 100001,
                        "_sdc_deleted_at": "2024-05-01T00:00:00Z"})
        expect["deleted"].add(row["ID"])
    random.Random(7).shuffle(records)
    lines = [schema_message("generic_company")]
    lines += [{"type": "RECORD", "stream": "generic_company", "record": r} for r in records]
    lines.append({"type": "STATE", "value": {"done": len(records)}})
    return "".join(json.dumps(line) + "\n" for line in lines), expect


def results_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
def test_target_killed_during_writes_and_replayed_creates_nothing_twice(
    sandbox: Sandbox, make_settings: Callable[..., dict[str, Any]], tmp_path: Path,
    out_dir: Path,
) -> None:
    # the checks at the end look up 20 deleted accounts (a 404 each): not about the error block
    sandbox.set_limits(minutely=10**6, daily=10**7, errors_hourly=10**6)
    text, expect = company_messages(sandbox)
    sandbox.clear_calls()
    config = make_settings(sandbox, results_path=str(out_dir / "results.jsonl"),
                           ledger_path=str(out_dir / "ledger.sqlite"))
    config_path = write_json(tmp_path / "target-config.json", config)
    before = sandbox.row_count("crm/Accounts")
    results = Path(config["results_path"])
    rng = random.Random(3)
    for kill in range(3):  # killed three times at random points, each time replayed
        stop_at = results_lines(results) + rng.randint(5, 30)
        with open(out_dir / f"kill-{kill}.stderr", "w") as stderr:
            proc = subprocess.Popen([TARGET, "--config", str(config_path)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=stderr, text=True)
            assert proc.stdin is not None
            proc.stdin.write(text)
            proc.stdin.close()
            deadline = time.monotonic() + 60
            while results_lines(results) < stop_at and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.kill()
            proc.wait(timeout=30)
            assert proc.stdout is not None
            stdout = proc.stdout.read()
        assert proc.returncode == -signal.SIGKILL, "killed before the end"
        assert stdout == "", "no STATE from a run that did not finish"
    final = run_executable([TARGET, "--config", str(config_path)], out_dir, "replay",
                           stdin=text, timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    assert [json.loads(line) for line in final.stdout.splitlines()] == [{"done": 100}]

    assert sandbox.row_count("crm/Accounts") == before + 60 - 20
    token = sandbox.access_token()
    rows = []
    url = "crm/Accounts?$select=ID,Code,Name&$filter=startswith(trim(Code), 'CRASH')"
    rows = sandbox.call(token, url).json()["d"]["results"]
    assert sorted((r["Code"].strip(), r["Name"]) for r in rows) == sorted(
        expect["created"].items()), "every create landed once, with its values"
    for account_id, name in expect["updated"].items():
        row = sandbox.call(token, f"crm/Accounts(guid'{account_id}')?$select=Name").json()
        assert row["d"]["Name"] == name
    for account_id in expect["deleted"]:
        assert sandbox.call(token, f"crm/Accounts(guid'{account_id}')").status_code == 404
    posts = sandbox.calls()["by_endpoint"].get("POST crm/Accounts", 0)
    assert posts == 60, "no create was sent twice"
