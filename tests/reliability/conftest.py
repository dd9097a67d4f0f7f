"""The reliability suite's harness: outputs kept for the secrets check, the tap in process.

Everything a run *produces* (stdout, stderr, logs, STATE, results files, ledgers) is written
under one session directory, ``artifacts``; ``test_secrets.py`` runs last and searches it for
the client secret and every access and refresh token. Inputs that must hold secrets (config
files, token stores) live in each test's own ``tmp_path`` instead.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox

from .scaled_clock import SandboxClock, patched_core_clock

BIN = Path(sys.executable).parent
TAP = str(BIN / "tap-exact-online")
TARGET = str(BIN / "target-exact-online")
DIVISIONS = (100001, 100002)

ACCESS_TOKEN = re.compile(rb"gAAAA[A-Za-z0-9_-]{100,}")
REFRESH_TOKEN = re.compile(rb"[A-Za-z0-9_-]{4}![A-Za-z0-9_-]{100,}")
"""The sandbox's token shapes: any token, even one no test kept, is found by these."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The secrets check looks at what the whole suite produced, so it runs last."""
    last = [i for i in items if i.module is not None and i.module.__name__.endswith(
        "reliability.test_secrets")]
    items[:] = [i for i in items if i not in last] + last


# -- secrets and outputs -----------------------------------------------------------------------


@dataclass
class Secrets:
    """Every secret the suite handed out or saw in a token store."""

    values: set[str] = field(default_factory=lambda: {Sandbox.client_secret})
    stores: list[Path] = field(default_factory=list)

    def add_store(self, path: Path) -> None:
        self.stores.append(path)
        self.collect()

    def collect(self) -> None:
        for store in self.stores:
            try:
                data = json.loads(store.read_text())
            except (OSError, ValueError):
                continue
            for key in ("access_token", "refresh_token"):
                if isinstance(data.get(key), str):
                    self.values.add(data[key])


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability-outputs")


@pytest.fixture(scope="session")
def secrets() -> Secrets:
    return Secrets()


@pytest.fixture
def out_dir(artifacts: Path, request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    path = artifacts / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def connector_settings(sandbox: Sandbox, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": sandbox.base_url,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "refresh_token": sandbox.mint_refresh_token(),
        "token_store": str(tmp_path / "tokens.json"),
        "divisions": list(DIVISIONS),
        "max_retries": 4,
        **extra,
    }


@pytest.fixture
def make_settings(tmp_path: Path, secrets: Secrets) -> Iterator[Callable[..., dict[str, Any]]]:
    stores: list[Path] = []

    def make(sandbox: Sandbox, **extra: Any) -> dict[str, Any]:
        settings = connector_settings(sandbox, tmp_path, **extra)
        secrets.values.add(settings["refresh_token"])
        stores.append(Path(settings["token_store"]))
        return settings

    yield make
    for store in stores:
        secrets.add_store(store)


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


# -- the tap in this process, on the sandbox's clock ---------------------------------------------


@dataclass
class TapOutput:
    messages: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        return [m["record"] for m in self.messages
                if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)]

    def committed(self) -> list[dict[str, Any]]:
        """RECORD messages followed by a STATE (what a target has committed)."""
        last_state = max((i for i, m in enumerate(self.messages) if m["type"] == "STATE"),
                         default=-1)
        return [m for m in self.messages[:last_state + 1] if m["type"] == "RECORD"]

    @property
    def state(self) -> dict[str, Any] | None:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else None


class _Stdout:
    """Stands in for ``sys.stdout`` (text and ``.buffer``): parses the tap's Singer lines."""

    def __init__(self, output: TapOutput, on_message: Callable[[dict[str, Any]], None] | None,
                 copy: Any) -> None:
        self.output, self.on_message, self.copy = output, on_message, copy
        self.buffer = self
        self._pending = b""

    def write(self, data: bytes | str) -> int:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        self.copy.write(raw)
        self._pending += raw
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            if line.strip():
                message = json.loads(line)
                self.output.messages.append(message)
                if self.on_message is not None:
                    self.on_message(message)
        return len(data)

    def flush(self) -> None:
        self.copy.flush()


def tap_in_process(config: dict[str, Any], out: Path, clock: SandboxClock, *,
                   state: dict[str, Any] | None = None, catalog: dict[str, Any] | None = None,
                   on_message: Callable[[dict[str, Any]], None] | None = None,
                   label: str = "run", call_times: list[float] | None = None) -> TapOutput:
    """``TapExactOnline(...).sync_all()`` with stdout parsed and kept in ``out``
    (``call_times``: receives the sandbox time of every answer from Exact)."""
    from tap_exact_online.tap import TapExactOnline

    output = TapOutput()
    log = logging.FileHandler(out / f"{label}.log")
    log.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(log)
    root.setLevel(logging.DEBUG)
    old_stdout = sys.stdout
    try:
        with open(out / f"{label}.stdout.jsonl", "wb") as copy, \
                patched_core_clock(clock, call_times):
            sys.stdout = _Stdout(output, on_message, copy)  # type: ignore[assignment]
            try:
                tap = TapExactOnline(config=config, state=state, catalog=catalog)
                tap.sync_all()
            except (Exception, SystemExit) as exc:
                output.error = exc
            finally:
                sys.stdout = old_stdout
    finally:
        root.removeHandler(log)
        root.setLevel(old_level)
        log.close()
    if output.state is not None:
        write_json(out / f"{label}.state.json", output.state)
    return output


def discover(config: dict[str, Any], selected: set[str]) -> dict[str, Any]:
    """The tap's catalog with only ``selected`` streams selected."""
    from tap_exact_online.tap import TapExactOnline

    catalog: dict[str, Any] = TapExactOnline(config=config).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in selected
    return catalog


def by_key(records: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    """Records by (division, id); a later record wins (a resumed run re-emits a page)."""
    return {(r["division"], r["id"]): r for r in records}


# -- executables -----------------------------------------------------------------------------


@dataclass
class Process:
    returncode: int
    stdout: str
    stderr: str


def run_executable(command: list[str], out: Path, label: str, *, stdin: str | None = None,
                   timeout: float = 120) -> Process:
    """Run a connector executable; stdout and stderr are kept in ``out`` for the secrets check."""
    done = subprocess.run(command, input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)
    (out / f"{label}.stdout").write_text(done.stdout)
    (out / f"{label}.stderr").write_text(done.stderr)
    return Process(done.returncode, done.stdout, done.stderr)
