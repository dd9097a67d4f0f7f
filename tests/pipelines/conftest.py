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
from collections.abc import Iterator
from pathlib import Path

import pytest

from exact_online_sandbox.server import Sandbox

from .helpers import ROOT, Pipeline, Warehouse, pipeline_for


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
    pipe = pipeline_for(sandbox_process, warehouse, tmp_path, request.node.name)
    yield pipe
    warehouse.sql(f'DROP SCHEMA IF EXISTS "{pipe.schema}" CASCADE')
