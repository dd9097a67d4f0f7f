"""Real `meltano run` pipelines: the project's meltano.yml, the sandbox, a real PostgreSQL.

One `meltano install` per session (plugin venvs under .meltano/, shared with the project);
per test: its own sandbox process on a free port, its own Meltano system database (state),
its own token store and its own PostgreSQL schema, so tests never see each other's state.
Everything reaches the plugins the way a user's settings do: environment variables.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from exact_online_sandbox.server import Sandbox

from .helpers import ROOT, Pipeline, Warehouse


@pytest.fixture(scope="session")
def meltano_installed() -> None:
    """`meltano install` once per session (uv venvs; seconds when already installed)."""
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "meltano"), "install"],
        cwd=ROOT,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"meltano install failed:\n{done.stderr[-4000:]}"


@pytest.fixture(scope="session")
def warehouse() -> Warehouse:
    """The local PostgreSQL of scripts/postgres.sh (installed and started when needed)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "postgres.sh"), "--env"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"scripts/postgres.sh failed:\n{done.stderr[-4000:]}"
    settings = dict(re.findall(r"^export (\w+)='?([^'\n]*)'?$", done.stdout, re.MULTILINE))
    return Warehouse(
        host=settings["TARGET_POSTGRES_HOST"],
        port=int(settings["TARGET_POSTGRES_PORT"]),
        user=settings["TARGET_POSTGRES_USER"],
        password=settings["TARGET_POSTGRES_PASSWORD"],
        database=settings["TARGET_POSTGRES_DATABASE"],
    )


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[Sandbox]:
    """The seeded sandbox as its own process on a free port of 127.0.0.1."""
    with Sandbox(seed=42, process=True, data_dir=tmp_path / "sandbox") as sandbox:
        sandbox.set_limits(minutely=100000, daily=100000)
        yield sandbox


@pytest.fixture
def pipeline(
    meltano_installed: None,
    warehouse: Warehouse,
    sandbox_process: Sandbox,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Pipeline]:
    """`meltano run` in the project root, dev environment, aimed at this test's sandbox."""
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    schema = f"t_{name}_{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "TAP_EXACT_ONLINE_BASE_URL": sandbox_process.base_url,
        "TAP_EXACT_ONLINE_REDIRECT_URI": sandbox_process.redirect_uri,
        "TAP_EXACT_ONLINE_REFRESH_TOKEN": sandbox_process.mint_refresh_token(),
        "TAP_EXACT_ONLINE_TOKEN_STORE": str(tmp_path / "tokens.json"),
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
    pipe = Pipeline(env=env, sandbox=sandbox_process, warehouse=warehouse, schema=schema)
    yield pipe
    warehouse.sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
