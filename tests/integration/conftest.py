"""Fixtures for running the real tap executable against the sandbox."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox

from .helpers import TAP, TapRun, exact_keys


@pytest.fixture
def tap_config(settings: dict[str, Any], tmp_path: Path) -> Callable[..., Path]:
    """Write a tap config file (the sandbox settings plus overrides) and return its path."""

    def write(**overrides: Any) -> Path:
        path = tmp_path / f"tap-config-{len(list(tmp_path.glob('tap-config-*')))}.json"
        path.write_text(json.dumps({**settings, **overrides}))
        return path

    return write


@pytest.fixture
def run_tap(tmp_path: Path) -> Callable[..., TapRun]:
    """Run ``tap-exact-online`` as a real process; returns its parsed Singer output."""

    def run(
        config: Path,
        *,
        state: dict[str, Any] | None = None,
        catalog: dict[str, Any] | None = None,
        extra: tuple[str, ...] = (),
        timeout: float = 300,
    ) -> TapRun:
        command = [TAP, "--config", str(config), *extra]
        if state is not None:
            state_path = tmp_path / "state.json"
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        if catalog is not None:
            catalog_path = tmp_path / "catalog.json"
            catalog_path.write_text(json.dumps(catalog))
            command += ["--catalog", str(catalog_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return TapRun(done.returncode, done.stderr, messages)

    return run


@pytest.fixture
def sandbox_keys(sandbox: Sandbox) -> Iterator[Callable[..., set[tuple[int, str]]]]:
    sandbox.set_limits(minutely=100000, daily=100000)
    yield lambda path, key="ID", **kw: exact_keys(sandbox, path, key, **kw)


@pytest.fixture
def config_file(settings: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An ``exact-online`` config file for the sandbox, with no EXACT_ONLINE_* overrides."""
    for name in ("CONFIG", "CLIENT_ID", "BASE_URL", "DIVISIONS", "WEBHOOK_SECRET"):
        monkeypatch.delenv(f"EXACT_ONLINE_{name}", raising=False)
    path = tmp_path / "exact.json"
    path.write_text(json.dumps({**settings, "webhook_secret": "sandbox-webhook-secret"}))
    return str(path)
