"""Workers that share nothing but a PostgreSQL server sync their own divisions of one login.

Each worker is a process running the tap (``tap_worker.py``) in its own home, temp and
working directory, with its own config file and output; the only thing they share is the
token row in PostgreSQL (``token_store: postgresql://...``). The sandbox's clock runs 300
times faster, and the workers' core runs on it: an access token is due for a refresh every
1.9 s of real time, so the workers refresh the one rotating token many times, each under
the row's lock, while the others keep syncing. (At 900 times, 0.67 s a token, a loaded
machine could hold a worker longer than a token lives, twice in a row: a 401 the test
would blame on the store.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exact_online_sandbox.server import Sandbox

WORKER = str(Path(__file__).with_name("tap_worker.py"))
WORKERS = 4
DIVISIONS_EACH = 5
SCALE = 300.0  # an access token (600 s) lives 2 s of real time
GENERATIONS = 8
"""Access-token lifetimes each worker keeps calling Exact for from its first token: the
sync itself may take fewer (the tap reads a worker's divisions four at a time)."""
SIZE = {"accounts": 300, "contacts": 200, "items": 100, "invoices": 30, "projects": 0,
        "deleted": 2}

STREAMS: dict[str, tuple[str, str]] = {
    # stream: (entity, key) the sandbox holds
    "generic_company": ("crm/Accounts", "ID"),
    "generic_contact": ("crm/Contacts", "ID"),
    "accounting_invoice_item": ("logistics/Items", "ID"),
    "accounting_invoice": ("salesinvoice/SalesInvoices", "InvoiceID"),
    "accounting_invoice_line_item": ("salesinvoice/SalesInvoiceLines", "ID"),
}


@pytest.fixture
def many_divisions() -> Iterator[Sandbox]:
    with Sandbox(seed=42, process=True, scale=SCALE) as sandbox:
        sandbox.reset(size=SIZE, divisions=WORKERS * DIVISIONS_EACH)
        yield sandbox


def sandbox_keys(sandbox: Sandbox, entity: str, key: str, divisions: list[int]
                 ) -> set[tuple[int, str]]:
    token = sandbox.access_token()  # a grant of its own: the workers' chain is untouched
    found: set[tuple[int, str]] = set()
    for division in divisions:
        url: str | None = f"{sandbox.api_url}/{division}/{entity}?$select={key}"
        while url:
            body = requests.get(url, timeout=30, headers={
                "Authorization": f"Bearer {token}", "Accept": "application/json"}).json()["d"]
            found.update((division, str(row[key])) for row in body["results"])
            url = body.get("__next")
    return found


def start_worker(home: Path, settings: dict[str, Any], seconds: float
                 ) -> subprocess.Popen[bytes]:
    """A worker in a directory of its own: HOME, TMPDIR, working directory, config, output."""
    for sub in ("tmp", "work"):
        (home / sub).mkdir(parents=True)
    config = home / "work" / "config.json"
    config.write_text(json.dumps(settings))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TAP_EXACT_ONLINE_", "EXACT_ONLINE_", "XDG_"))}
    env.update(HOME=str(home), TMPDIR=str(home / "tmp"))
    with open(home / "work" / "out.jsonl", "wb") as out, \
            open(home / "work" / "err.log", "wb") as err:
        return subprocess.Popen([sys.executable, WORKER, str(config), repr(seconds)], stdout=out,
                                stderr=err, cwd=home / "work", env=env)


@pytest.mark.slow
def test_workers_sharing_only_postgresql_sync_their_divisions_without_token_errors(
        many_divisions: Sandbox, token_db: str, tmp_path: Path) -> None:
    sandbox = many_divisions
    codes = [row["Code"] for row in sandbox.call(
        sandbox.access_token(), "system/Divisions?$select=Code").json()["d"]["results"]]
    assert len(codes) == WORKERS * DIVISIONS_EACH
    seed = sandbox.mint_refresh_token()
    sandbox.clear_calls()
    workers = []
    for n in range(WORKERS):
        mine = codes[n * DIVISIONS_EACH:(n + 1) * DIVISIONS_EACH]
        workers.append(start_worker(tmp_path / f"worker-{n}", {
            "base_url": sandbox.base_url, "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret, "refresh_token": seed,
            "token_store": token_db, "divisions": mine}, GENERATIONS * 600))
    for n, worker in enumerate(workers):
        assert worker.wait(timeout=600) == 0, (
            tmp_path / f"worker-{n}" / "work" / "err.log").read_text()[-3000:]

    sandbox.set_scale(1.0)  # the checks below take their time
    calls = sandbox.calls()["by_endpoint_status"]
    token_answers = calls["POST oauth2/token"]
    assert set(token_answers) == {"200"}, f"token endpoint answered {token_answers}"
    assert token_answers["200"] >= GENERATIONS, f"only {token_answers['200']} token generations"
    logs = "".join((tmp_path / f"worker-{n}" / "work" / "err.log").read_text()
                   for n in range(WORKERS))
    assert "Old refresh token used" not in logs

    emitted: dict[str, Counter[tuple[int, str]]] = {stream: Counter() for stream in STREAMS}
    for n in range(WORKERS):
        for line in (tmp_path / f"worker-{n}" / "work" / "out.jsonl").read_text().splitlines():
            message = json.loads(line)
            if message["type"] == "RECORD" and message["stream"] in STREAMS \
                    and not message["record"].get("_sdc_deleted_at"):
                record = message["record"]
                emitted[message["stream"]][(record["division"], record["id"])] += 1
    for stream, (entity, key) in STREAMS.items():
        expected = sandbox_keys(sandbox, entity, key, codes)
        assert len(expected) >= WORKERS * DIVISIONS_EACH
        assert set(emitted[stream]) == expected, stream
        twice = [k for k, count in emitted[stream].items() if count > 1]
        assert twice == [], f"{stream}: {len(twice)} records loaded more than once"
