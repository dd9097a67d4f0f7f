"""The Dagster code location: 20 division partitions materialized with the multiprocess executor.

Against the sandbox (20 divisions under one login) and a real PostgreSQL holding the
tokens (token_store), Meltano's system database (the state of every division) and the
warehouse (target-postgres). Each partition run executes its step in a child process (the
multiprocess executor), which runs ``meltano run`` for its division. Runs are launched
four at a time from worker processes, as a run launcher would.

On the smallest data: what costs here is starting processes (a Dagster step, meltano, the
tap, the loader) for each partition, not rows. A second materialization of two partitions
(one division changed, one not) loads only the changed row, from each division's state.

Every run gets the same catalog, the one ``meltano run`` makes for the deployment (the
tap's discovery with the project's ``select`` applied), made once by ``meltano invoke
--dump=catalog`` and handed to each run as Meltano's ``catalog`` extra
(``TAP_EXACT_ONLINE__CATALOG``, used as it is): an editable install (``pip_url: -e``) is
otherwise discovered again in each of the 22 runs, about 6 CPU seconds a run that prove
nothing more here (Meltano caches the catalog of a tap installed from PyPI; discovery and
the selection rules through ``meltano run`` are tests/pipelines').
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from exact_online_core.odata import parse_collection
from exact_online_dagster.settings import Settings
from exact_online_sandbox.server import Sandbox

from .conftest import ROOT, Server

DIVISIONS = 20
SIZE = {"accounts": 2, "contacts": 1, "items": 1, "invoices": 1, "projects": 0, "deleted": 1}
TABLES = {"generic_company": ("crm/Accounts", "ID"),
          "generic_contact": ("crm/Contacts", "ID"),
          "accounting_invoice_item": ("logistics/Items", "ID"),
          "accounting_invoice": ("salesinvoice/SalesInvoices", "InvoiceID"),
          "accounting_invoice_line_item": ("salesinvoice/SalesInvoiceLines", "ID")}
SCHEMA = "exact_online"


def materialize(partition: str) -> tuple[str, bool, list[str]]:
    """One run of the partition, as ``dagster`` launches it (in a process of its own)."""
    from dagster import DagsterInstance, execute_job, reconstructable

    from exact_online_dagster.definitions import sync_job

    with DagsterInstance.get() as instance:
        result = execute_job(reconstructable(sync_job), instance=instance,
                             tags={"dagster/partition": partition})
        failures = [str(event.message) for event in result.all_events
                    if event.is_failure or event.event_type_value == "STEP_FAILURE"]
        return partition, result.success, failures


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=42, process=True) as sb:
        sb.reset(size=SIZE, divisions=DIVISIONS)
        yield sb


@pytest.fixture
def deployment(sandbox: Sandbox, pg_server: Server, new_database: Any, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch, meltano_installed: None) -> str:
    """The environment of a deployment: tokens, Meltano state and warehouse in PostgreSQL."""
    database = new_database()
    home = tmp_path / "dagster-home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith(("TAP_EXACT_ONLINE_", "TARGET_POSTGRES_", "EXACT_ONLINE_",
                           "MELTANO_")):
            monkeypatch.delenv(key)
    env = {
        "DAGSTER_HOME": str(home),
        "EXACT_ONLINE_DAGSTER_PROJECT": str(ROOT),
        "EXACT_ONLINE_DAGSTER_ENVIRONMENT": "dev",
        "EXACT_ONLINE_DAGSTER_LOADER": "target-postgres",
        "EXACT_ONLINE_DAGSTER_RETRY_DELAY": "1",
        "MELTANO_DATABASE_URI": pg_server.url(database, scheme="postgresql+psycopg"),
        "TAP_EXACT_ONLINE_BASE_URL": sandbox.base_url,
        "TAP_EXACT_ONLINE_REFRESH_TOKEN": sandbox.mint_refresh_token(),
        "TAP_EXACT_ONLINE_TOKEN_STORE": pg_server.url(database),
        "TARGET_POSTGRES_HOST": pg_server.host,
        "TARGET_POSTGRES_PORT": str(pg_server.port),
        "TARGET_POSTGRES_USER": pg_server.user,
        "TARGET_POSTGRES_PASSWORD": pg_server.password,
        "TARGET_POSTGRES_DATABASE": database,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": SCHEMA,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TAP_EXACT_ONLINE__CATALOG", str(meltano_catalog(tmp_path)))
    return pg_server.url(database)


def meltano_catalog(where: Path) -> Path:
    """The catalog each partition's ``meltano run`` would make (the tap's discovery, then the
    project's ``select`` and ``metadata`` rules), made once by ``meltano invoke
    --dump=catalog`` in a system directory and database of its own."""
    settings = Settings.from_env()
    system = where / "catalog-dump" / ".meltano"
    system.mkdir(parents=True)
    for entry in (ROOT / ".meltano").iterdir():  # the installed plugins, as run_division does
        if entry.is_dir() and entry.name not in ("run", "logs"):
            (system / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
    done = subprocess.run(
        [settings.meltano, f"--environment={settings.environment}", "invoke", "--dump=catalog",
         settings.extractor], cwd=settings.project, capture_output=True, text=True,
        timeout=300, check=False,
        env={**os.environ, "MELTANO_SYS_DIR_ROOT": str(system),
             "MELTANO_DATABASE_URI": f"sqlite:///{where / 'catalog-dump' / 'meltano.db'}"})
    assert done.returncode == 0, done.stderr[-4000:]
    catalog = where / "catalog.json"
    catalog.write_text(done.stdout)
    selected = {stream["tap_stream_id"] for stream in json.loads(done.stdout)["streams"]
                for entry in stream["metadata"]
                if entry["breadcrumb"] == [] and entry["metadata"].get("selected")}
    assert set(TABLES) <= selected, selected
    return catalog


def exact_keys(sandbox: Sandbox, entity: str, key: str, divisions: list[int]
               ) -> set[tuple[int, str]]:
    token = sandbox.access_token()
    found: set[tuple[int, str]] = set()
    for division in divisions:
        url: str | None = f"{sandbox.api_url}/{division}/{entity}?$select={key}"
        while url:
            page = parse_collection(requests.get(url, timeout=30, headers={
                "Authorization": f"Bearer {token}", "Accept": "application/json"}).json())
            found.update((division, str(row[key])) for row in page.rows)
            url = page.next_url
    return found


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def rename_first_account(sandbox: Sandbox, division: int) -> str:
    """Rename one account of ``division`` in Exact; its ID."""
    token = sandbox.access_token()
    answer = sandbox.call(token, "crm/Accounts?$select=ID,Name&$top=1", division=division)
    account = parse_collection(answer.json()).rows[0]  # $top: Exact's bare {"d": [...]}
    renamed = sandbox.call(token, f"crm/Accounts(guid'{account['ID']}')", "PUT",
                           division=division, json={"Name": f"{account['Name']} (renamed)"})
    assert renamed.status_code == 204, renamed.text
    return str(account["ID"])


def materialize_all(partitions: list[str]) -> None:
    with ProcessPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(materialize, partitions))
    failed = {key: failures for key, ok, failures in results if not ok}
    assert failed == {}, failed


@pytest.mark.slow
def test_twenty_division_partitions_materialize_with_the_multiprocess_executor(
        sandbox: Sandbox, deployment: str) -> None:
    from dagster import AssetKey, DagsterInstance

    from exact_online_dagster.definitions import ASSET, add_partitions, divisions

    with DagsterInstance.get() as instance:
        partitions = add_partitions(instance)
        assert len(partitions) == DIVISIONS
        assert instance.get_dynamic_partitions(divisions.name or "") == partitions
    codes = [int(key) for key in partitions]

    # The first run alone creates Meltano's tables and the warehouse's; then the fan-out.
    materialize_all(partitions[:1])
    materialize_all(partitions[1:])

    with DagsterInstance.get() as instance:
        assert instance.get_materialized_partitions(AssetKey(ASSET)) == set(partitions)
    for table, (entity, key) in TABLES.items():
        loaded = query(deployment, f"SELECT division, id FROM {SCHEMA}.{table}")
        assert sorted((d, str(i)) for d, i in loaded) == sorted(
            exact_keys(sandbox, entity, key, codes)), table
    states = {row[0] for row in query(deployment, "SELECT state_id FROM state")}
    assert states == {f"dev:tap-exact-online-to-target-postgres:division-{code}"
                      for code in codes}
    tokens = sandbox.calls()["by_endpoint_status"]["POST oauth2/token"]
    assert set(tokens) == {"200"}, tokens

    # A second materialization of a changed division and an unchanged one is incremental:
    # only the renamed account is loaded again, each division from its own state.
    renamed = rename_first_account(sandbox, codes[0])
    before = dict(query(deployment, f"SELECT id, _sdc_batched_at FROM {SCHEMA}.generic_company"))
    materialize_all(partitions[:2])
    after = dict(query(deployment, f"SELECT id, _sdc_batched_at FROM {SCHEMA}.generic_company"))
    assert {key for key, batched in after.items() if batched != before.get(key)} == {renamed}
    names = query(deployment, f"SELECT name FROM {SCHEMA}.generic_company WHERE id = '{renamed}'")
    assert len(names) == 1 and names[0][0].endswith("(renamed)"), names
