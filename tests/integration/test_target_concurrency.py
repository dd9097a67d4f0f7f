"""Several target-exact-online processes on the same input and ledger at once: each record once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox

from .test_target_support import TARGET, schema_message

ENTITIES = {"generic_company": "crm/Accounts", "generic_contact": "crm/Contacts"}


def mixed_input(sandbox: Sandbox, companies: int, contacts: int, tag: str) -> str:
    """Companies (with a code) and contacts (no natural key at all) to create."""
    token = sandbox.access_token()
    accounts = sandbox.call(token, "crm/Accounts?$top=5&$select=ID").json()["d"]  # bare d
    lines: list[dict[str, Any]] = [schema_message(s) for s in ENTITIES]
    for i in range(max(companies, contacts)):
        if i < companies:
            lines.append({"type": "RECORD", "stream": "generic_company",
                          "record": {"name": f"{tag} company {i}", "code": f"{tag}{i:04d}"}})
        if i < contacts:
            lines.append({"type": "RECORD", "stream": "generic_contact", "record": {
                "first_name": f"{tag}", "last_name": f"Contact {i}",
                "company_id": accounts[i % len(accounts)]["ID"]}})
    lines.append({"type": "STATE", "value": {"done": tag}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def counts(sandbox: Sandbox) -> dict[str, int]:
    return {s: sandbox.row_count(path) for s, path in ENTITIES.items()}


def run_at_once(settings: dict[str, Any], tmp_path: Path, text: str, runs: int,
                label: str) -> list[tuple[int, str, list[dict[str, Any]]]]:
    """``runs`` target processes on one input and one ledger, started together."""
    procs = []
    for n in range(runs):
        config = {**settings, "ledger_path": str(tmp_path / "ledger.sqlite"),
                  "results_path": str(tmp_path / f"{label}-{n}.results.jsonl")}
        path = tmp_path / f"{label}-{n}.config.json"
        path.write_text(json.dumps(config))
        source = tmp_path / f"{label}.singer"
        source.write_text(text)
        with open(source) as stdin, open(tmp_path / f"{label}-{n}.stderr", "w") as stderr:
            procs.append(subprocess.Popen([str(TARGET), "--config", str(path)], stdin=stdin,
                                          stdout=subprocess.PIPE, stderr=stderr, text=True))
    done = []
    for n, proc in enumerate(procs):
        stdout, _ = proc.communicate(timeout=600)
        results = [json.loads(line) for line in
                   (tmp_path / f"{label}-{n}.results.jsonl").read_text().splitlines()]
        done.append((proc.returncode, stdout, [r for r in results if r["type"] == "record"]))
    return done


def ledger_rows(path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT stream, state, exact_id FROM ledger"))


def check_concurrent_runs(sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path,
                          companies: int, contacts: int, runs: int) -> None:
    sandbox.set_limits(minutely=10**6, daily=10**7, token_daily=10**5)
    text = mixed_input(sandbox, companies, contacts, "PAR")
    before = counts(sandbox)
    done = run_at_once(settings, tmp_path, text, runs, "first")
    for code, _stdout, _records in done:
        assert code == 0, (tmp_path / "first-0.stderr").read_text()[-3000:]
    after = counts(sandbox)
    assert after["generic_company"] - before["generic_company"] == companies
    assert after["generic_contact"] - before["generic_contact"] == contacts
    outcomes = [r["outcome"] for _, _, records in done for r in records]
    assert outcomes.count("created") == companies + contacts, "each record created once"
    assert outcomes.count("unchanged") == (runs - 1) * (companies + contacts)
    rows = ledger_rows(tmp_path / "ledger.sqlite")
    assert len(rows) == companies + contacts, "the ledger knows every record"
    assert all(state == "written" and exact_id for _, state, exact_id in rows)

    [(code, stdout, records)] = run_at_once(settings, tmp_path, text, 1, "rerun")
    assert code == 0
    assert {r["outcome"] for r in records} == {"unchanged"}
    assert len(records) == companies + contacts
    assert json.loads(stdout) == {"done": "PAR"}
    assert counts(sandbox) == after


def test_two_runs_of_the_same_input_at_once_write_each_record_once(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    check_concurrent_runs(sandbox, settings, tmp_path, companies=30, contacts=30, runs=2)


@pytest.mark.slow
def test_four_runs_of_300_records_at_once_give_300_rows_and_a_complete_ledger(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    check_concurrent_runs(sandbox, settings, tmp_path, companies=150, contacts=150, runs=4)
