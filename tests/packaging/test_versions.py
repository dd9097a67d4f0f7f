"""Every executable names the version of the one distribution that installed it."""

from __future__ import annotations

import json
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from exact_online_core.version import DISTRIBUTION, version

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
EXECUTABLES = ("tap-exact-online", "target-exact-online", "exact-online")


def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["project"]
    return table


def test_distribution_constant_is_the_project_name() -> None:
    assert project()["name"] == DISTRIBUTION


def test_installed_version_is_the_project_version() -> None:
    assert version() == project()["version"] == metadata.version(DISTRIBUTION)


@pytest.mark.parametrize("executable", EXECUTABLES)
def test_executable_prints_the_distribution_version(executable: str) -> None:
    done = subprocess.run([str(BIN / executable), "--version"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{executable} v{version()}"), done.stdout


@pytest.mark.parametrize("executable", ["tap-exact-online", "target-exact-online"])
def test_about_reports_version_and_supported_pythons(executable: str) -> None:
    done = subprocess.run([str(BIN / executable), "--about", "--format=json"],
                          capture_output=True, text=True, timeout=60, check=True)
    about = json.loads(done.stdout)
    assert about["version"] == version()
    assert about["supported_python_versions"], "read from the distribution's Requires-Python"
