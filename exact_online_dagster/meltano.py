"""Meltano for one division: the tap's settings, and a ``meltano run`` limited to a division.

Many ``meltano run`` of one project at once would share ``.meltano/run/<plugin>/`` (the
tap's catalog and state files are written there), so each division's run gets a system
directory of its own (``MELTANO_SYS_DIR_ROOT``) whose plugin installations are links to the
project's. Its state lives where the project's system database is (``MELTANO_DATABASE_URI``,
PostgreSQL for many machines), under the state ID ``<env>:<tap>-to-<target>:division-<code>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exact_online_dagster.settings import Settings

PRIVATE = ("run", "logs")
"""What each division's run keeps to itself in its system directory; the rest is linked."""
DAILY_LIMIT_MARKERS = ("daily API call limit", "daily budget")


@dataclass(frozen=True)
class DivisionRun:
    division: int
    state_id: str
    returncode: int
    seconds: float
    output: str
    """meltano's log (stderr), for the failure message and the run's log."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def daily_limit_spent(self) -> bool:
        """The tap stopped because Exact's daily budget of the division is spent: retrying
        before the reset only spends more calls."""
        return any(marker in self.output for marker in DAILY_LIMIT_MARKERS)

    def last_error(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        for line in reversed(lines):
            if "error:" in line.lower() or "stopping:" in line.lower():
                return line[-2000:]
        return lines[-1][-2000:] if lines else f"meltano exited with {self.returncode}"


def state_id(settings: Settings, division: int) -> str:
    return (f"{settings.environment}:{settings.extractor}-to-{settings.loader}"
            f":{suffix(division)}")


def suffix(division: int) -> str:
    return f"division-{division}"


def base_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["MELTANO_ENVIRONMENT"] = settings.environment
    env.setdefault("MELTANO_SEND_ANONYMOUS_USAGE_STATS", "false")
    # Each run has its own system directory: keep the project's system database (state)
    # unless one is configured (MELTANO_DATABASE_URI, e.g. PostgreSQL).
    env.setdefault("MELTANO_DATABASE_URI",
                   f"sqlite:///{settings.project / '.meltano' / 'meltano.db'}")
    return env


def tap_settings(settings: Settings) -> dict[str, Any]:
    """The extractor's settings as Meltano resolves them (meltano.yml, environment, .env)."""
    done = subprocess.run(
        [settings.meltano, f"--environment={settings.environment}", "config", "--unsafe",
         "print", settings.extractor, "--format=json"],
        cwd=settings.project, env=base_env(settings), capture_output=True, text=True,
        timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"meltano config print {settings.extractor} failed in "
                           f"{settings.project}: {_tail(done.stderr)}")
    found = json.loads(done.stdout)
    if not isinstance(found, dict):
        raise RuntimeError(f"meltano config print {settings.extractor} gave no settings")
    return found


def run_division(settings: Settings, division: int,
                 extra_env: Mapping[str, str] | None = None) -> DivisionRun:
    """``meltano run`` of the extractor and loader for ``division`` only, with its own state."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"exact-online-{division}-") as private:
        env = {**base_env(settings), **(extra_env or {})}
        env["MELTANO_SYS_DIR_ROOT"] = str(_system_dir(settings.project, Path(private)))
        env[_env_name(settings.extractor, "divisions")] = json.dumps([division])
        done = subprocess.run(
            [settings.meltano, f"--environment={settings.environment}", "run",
             f"--state-id-suffix={suffix(division)}", settings.extractor, settings.loader],
            cwd=settings.project, env=env, capture_output=True, text=True, check=False)
    return DivisionRun(division, state_id(settings, division), done.returncode,
                       time.monotonic() - started, done.stderr)


def _system_dir(project: Path, private: Path) -> Path:
    """A ``.meltano`` whose plugin installations are the project's and the rest is new."""
    shared = project / ".meltano"
    own = private / ".meltano"
    own.mkdir()
    if shared.is_dir():
        for entry in shared.iterdir():
            if entry.is_dir() and entry.name not in PRIVATE:
                (own / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
    return own


def _env_name(plugin: str, setting: str) -> str:
    """Meltano's environment variable for a plugin's setting (TAP_EXACT_ONLINE_DIVISIONS)."""
    return f"{plugin}_{setting}".upper().replace("-", "_")


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


__all__ = ["DivisionRun", "run_division", "state_id", "suffix", "tap_settings"]
