"""Meltano's state in PostgreSQL: a division's run on one machine continues on another.

Meltano keeps state in its system database (``state_backend.uri: systemdb``, its default);
``MELTANO_DATABASE_URI=postgresql+psycopg://...`` puts that database on the shared
PostgreSQL. Each run here is a real ``meltano run`` of the project's tap-exact-online and
target-jsonl for one division, started the way the Dagster layer starts it: in a Meltano
system directory of its own that is thrown away afterwards, so no state can survive on
local disk, only in PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exact_online_dagster.meltano import run_division
from exact_online_dagster.settings import Settings
from exact_online_sandbox.server import Sandbox

from .conftest import ROOT, Server

STATE_ID = "dev:tap-exact-online-to-target-jsonl:division-100002"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=42, process=True) as sb:
        yield sb


@pytest.fixture
def state_database(sandbox: Sandbox, pg_server: Server, new_database: Any, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch, meltano_installed: None) -> str:
    """Meltano's system database and the token store on PostgreSQL; the URL of the former."""
    database = new_database()
    for key in list(os.environ):
        if key.startswith(("TAP_EXACT_ONLINE_", "TARGET_JSONL_", "EXACT_ONLINE_", "MELTANO_")):
            monkeypatch.delenv(key)
    url = pg_server.url(database, scheme="postgresql+psycopg")
    for key, value in {
        "EXACT_ONLINE_DAGSTER_PROJECT": str(ROOT),
        "EXACT_ONLINE_DAGSTER_LOADER": "target-jsonl",
        "MELTANO_DATABASE_URI": url,
        "TAP_EXACT_ONLINE_BASE_URL": sandbox.base_url,
        "TAP_EXACT_ONLINE_REFRESH_TOKEN": sandbox.mint_refresh_token(),
        "TAP_EXACT_ONLINE_TOKEN_STORE": pg_server.url(database),
        "TAP_EXACT_ONLINE__SELECT": json.dumps(["generic_company.*"]),
    }.items():
        monkeypatch.setenv(key, value)
    return pg_server.url(database)


def companies(out: Path) -> list[dict[str, Any]]:
    lines = (out / "generic_company.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def rename_first_account(sandbox: Sandbox, division: int) -> str:
    token = sandbox.access_token()
    account = sandbox.call(token, "crm/Accounts?$select=ID,Name&$top=1",
                           division=division).json()["d"]
    row = (account if isinstance(account, list) else account["results"])[0]
    renamed = sandbox.call(token, f"crm/Accounts(guid'{row['ID']}')", "PUT",
                           division=division, json={"Name": f"{row['Name']} (renamed)"})
    assert renamed.status_code == 204, renamed.text
    return str(row["ID"])


@pytest.mark.slow
def test_a_divisions_state_lives_in_postgresql_and_the_next_run_continues_from_it(
        sandbox: Sandbox, state_database: str, tmp_path: Path) -> None:
    settings = Settings.from_env()
    first = run_division(settings, 100002,
                         {"TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "first")})
    assert first.ok, first.output[-6000:]
    assert first.state_id == STATE_ID
    assert len(companies(tmp_path / "first")) == sandbox.row_count("crm/Accounts", 100002)

    with psycopg.connect(state_database) as conn:
        rows = conn.execute("SELECT state_id, completed_state FROM state").fetchall()
    assert [state_id for state_id, _ in rows] == [STATE_ID]
    stored = json.loads(rows[0][1])
    bookmarks = stored["singer_state"]["bookmarks"]["generic_company"]["partitions"]
    assert [partition["context"]["division"] for partition in bookmarks] == [100002]

    # Any machine reads it: `meltano state get` from the project with only the database URL.
    shown = subprocess.run([str(ROOT / ".venv" / "bin" / "meltano"), "state", "get", STATE_ID],
                           cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                           timeout=180, check=False)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert json.loads(shown.stdout) == stored

    renamed = rename_first_account(sandbox, 100002)
    second = run_division(settings, 100002,
                          {"TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "second")})
    assert second.ok, second.output[-6000:]
    assert [(row["id"], row["name"].endswith("(renamed)"))
            for row in companies(tmp_path / "second")] == [(renamed, True)]
