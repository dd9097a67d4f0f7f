"""Running meltano, reading the warehouse (psql) and changing data in the sandbox (its REST API)."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from exact_online_sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[2]
MELTANO = str(ROOT / ".venv" / "bin" / "meltano")
DIVISIONS = (100001, 100002)
RUN_TIMEOUT = 180


def psql_binary() -> str:
    found = shutil.which("psql") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), reverse=True)), None
    )
    assert found, "no psql on this machine (scripts/postgres.sh installs it)"
    return found


@dataclass(frozen=True)
class Warehouse:
    """The PostgreSQL the pipelines load into, read with the psql CLI."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def env(self, schema: str) -> dict[str, str]:
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.database,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }

    def sql(self, statement: str) -> str:
        done = subprocess.run(
            [psql_binary(), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", self.host,
             "-p", str(self.port), "-U", self.user, "-d", self.database, "-c", statement],
            env={**os.environ, "PGPASSWORD": self.password},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"psql failed: {done.stderr}"
        return done.stdout.strip()

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts (typed by PostgreSQL's JSON)."""
        rows = self.sql(f"SELECT coalesce(json_agg(q), '[]'::json) FROM ({statement}) q")
        result: list[dict[str, Any]] = json.loads(rows)
        return result

    def tables(self, schema: str) -> set[str]:
        rows = self.query(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
        )
        return {row["table_name"] for row in rows}


@dataclass
class Pipeline:
    """`meltano` in the project root with this test's environment."""

    env: dict[str, str]
    sandbox: Sandbox
    warehouse: Warehouse
    schema: str
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    def meltano(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [MELTANO, *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.runs.append(done)
        return done

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`meltano run ...`, which must succeed."""
        done = self.meltano("run", *args, env=env)
        assert done.returncode == 0, f"meltano run {' '.join(args)} failed:\n{done.stderr[-6000:]}"
        return done

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """`meltano ...` in the background (parallel jobs)."""
        return subprocess.Popen(
            [MELTANO, *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def rows(self, table: str, columns: str = "*", where: str = "true") -> list[dict[str, Any]]:
        return self.warehouse.query(
            f'SELECT {columns} FROM "{self.schema}"."{table}" WHERE {where} ORDER BY 1'
        )

    def keys(self, table: str, where: str = "true") -> list[tuple[int, str]]:
        """(division, id) of every row, duplicates kept (a duplicate would show twice)."""
        return sorted(
            (row["division"], row["id"]) for row in self.rows(table, "division, id", where)
        )


def only(*streams: str) -> dict[str, str]:
    """Meltano's `select` for these streams, by environment (inherited plugins read it too):
    a test loads what it reads, since every table is a real load into PostgreSQL."""
    return {"TAP_EXACT_ONLINE__SELECT": json.dumps([f"{stream}.*" for stream in streams])}


def pipeline_for(sandbox: Sandbox, warehouse: Warehouse, tmp: Path, name: str) -> Pipeline:
    """`meltano run` in the project root, dev environment, aimed at ``sandbox``, with its own
    Meltano system database and token store under ``tmp`` and its own PostgreSQL schema."""
    name = re.sub(r"[^a-z0-9]+", "_", name.lower())[:40]
    schema = f"t_{name}_{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}",
        "TAP_EXACT_ONLINE_BASE_URL": sandbox.base_url,
        "TAP_EXACT_ONLINE_REDIRECT_URI": sandbox.redirect_uri,
        "TAP_EXACT_ONLINE_REFRESH_TOKEN": sandbox.mint_refresh_token(),
        "TAP_EXACT_ONLINE_TOKEN_STORE": str(tmp / "tokens.json"),
        **warehouse.env(schema),
    }
    # The developer's own shell may carry settings; the tests decide every one of them.
    for key in list(env):
        if key.startswith(("TAP_EXACT_ONLINE_", "TARGET_POSTGRES_")) and key not in {
            "TAP_EXACT_ONLINE_BASE_URL",
            "TAP_EXACT_ONLINE_REDIRECT_URI",
            "TAP_EXACT_ONLINE_REFRESH_TOKEN",
            "TAP_EXACT_ONLINE_TOKEN_STORE",
            *warehouse.env(schema),
        }:
            del env[key]
    return Pipeline(env=env, sandbox=sandbox, warehouse=warehouse, schema=schema)


def rows_of(body: Any) -> list[Any]:
    """The rows of an answer: ``d.results``, or the bare ``d`` array Exact gives a ``$top``
    below its page size."""
    d = body["d"]
    return list(d if isinstance(d, list) else d["results"])


class Exact:
    """Exact's REST API on the sandbox, as another app user would change data."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.sandbox.access_token()
        return self._token

    def request(self, method: str, path: str, division: int, **kwargs: Any) -> Any:
        response = self.sandbox.call(self.token, path, method, division=division, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def rows(self, path: str, select: str, division: int) -> list[dict[str, Any]]:
        """Every row of ``path`` (all pages)."""
        rows: list[dict[str, Any]] = []
        url: str | None = f"{self.sandbox.api_url}/{division}/{path}?$select={select}"
        while url:
            response = requests.get(
                url,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
                timeout=30,
            )
            response.raise_for_status()
            body = response.json()["d"]
            rows.extend(body["results"])
            url = body.get("__next")
        return rows

    def keys(self, path: str, key: str = "ID") -> list[tuple[int, str]]:
        return sorted(
            (division, str(row[key]))
            for division in DIVISIONS
            for row in self.rows(path, key, division)
        )

    def rename_accounts(self, division: int, count: int, suffix: str) -> dict[str, str]:
        """Rename ``count`` accounts; returns {id: new name}."""
        renamed = {}
        page = self.request("GET", "crm/Accounts", division, params={"$select": "ID,Name",
                                                                      "$top": str(count)})
        for account in rows_of(page):
            name = f"{account['Name']} {suffix}"
            self.request("PUT", f"crm/Accounts(guid'{account['ID']}')", division,
                         json={"Name": name})
            renamed[account["ID"]] = name
        return renamed

    def delete_contacts(self, division: int, count: int) -> list[str]:
        page = self.request("GET", "crm/Contacts", division, params={"$select": "ID",
                                                                      "$top": str(count)})
        ids = [row["ID"] for row in rows_of(page)]
        for contact_id in ids:
            self.request("DELETE", f"crm/Contacts(guid'{contact_id}')", division)
        return ids

    def create_contact(self, division: int, last_name: str, email: str) -> str:
        account = rows_of(self.request("GET", "crm/Accounts", division,
                                       params={"$select": "ID", "$top": "1"}))[0]
        created = self.request("POST", "crm/Contacts", division, json={
            "Account": account["ID"], "FirstName": "Pipeline", "LastName": last_name,
            "Email": email})
        return str(created["d"]["ID"])
