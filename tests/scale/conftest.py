"""The PostgreSQL of scripts/postgres.sh, with a throwaway database per test.

Each test gets databases of its own (``exact_scale_<random>``), dropped afterwards, so it
never sees the pipeline tests' warehouse or another test's tokens and state.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str
    database: str

    def url(self, database: str | None = None, *, password: bool = True,
            scheme: str = "postgresql") -> str:
        secret = f":{self.password}" if password else ""
        return (f"{scheme}://{self.user}{secret}@{self.host}:{self.port}/"
                f"{database or self.database}")


@pytest.fixture(scope="session")
def pg_server() -> Server:
    done = subprocess.run([str(ROOT / "scripts" / "postgres.sh"), "--env"], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, f"scripts/postgres.sh failed:\n{done.stderr[-4000:]}"
    found = dict(re.findall(r"^export (\w+)='?([^'\n]*)'?$", done.stdout, re.MULTILINE))
    return Server(found["TARGET_POSTGRES_HOST"], int(found["TARGET_POSTGRES_PORT"]),
                  found["TARGET_POSTGRES_USER"], found["TARGET_POSTGRES_PASSWORD"],
                  found["TARGET_POSTGRES_DATABASE"])


@pytest.fixture(scope="session")
def meltano_installed() -> None:
    """`meltano install` of the project's plugins (seconds when they are installed)."""
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "meltano"), "install"], cwd=ROOT,
                          env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.fixture
def new_database(pg_server: Server) -> Iterator[Callable[[], str]]:
    """Creates empty databases on demand; returns each one's name. Dropped at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"exact_scale_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_server.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return name

    yield make
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        for name in made:
            drop_database(conn, name)


def drop_database(conn: psycopg.Connection[Any], name: str) -> None:
    """DROP ... WITH (FORCE) ends our own sessions on it, but not a backend of another role:
    an autovacuum worker busy on the freshly loaded tables refuses with InsufficientPrivilege
    for the moment it takes; wait for it rather than fail a test that passed."""
    for attempt in range(60):
        try:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == 59:
                raise
            time.sleep(0.5)


@pytest.fixture
def token_db(pg_server: Server, new_database: Callable[[], str]) -> str:
    """A postgresql:// token_store URL (with its password) on a fresh database."""
    return pg_server.url(new_database())
