"""README's settings reference is what `--about --format=markdown` prints, for every own setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tap_exact_online.tap import TapExactOnline
from target_exact_online.target import TargetExactOnline

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
OWN = {
    "tap-exact-online": set(TapExactOnline.config_jsonschema["properties"]),
    # the target's table lists what it adds to the connection settings the tap's table has
    "target-exact-online": set(TargetExactOnline.config_jsonschema["properties"])
    - set(TapExactOnline.config_jsonschema["properties"]),
}


def readme_rows(executable: str) -> list[str]:
    section = README.split(f"`{executable} --about --format=markdown`", 1)[1]
    table = section.split("| Setting |", 1)[1].split("\n\n", 1)[0]
    return [line for line in table.splitlines()[2:] if line.startswith("| ")]


def about_rows(executable: str) -> set[str]:
    done = subprocess.run([str(BIN / executable), "--about", "--format=markdown"],
                          capture_output=True, text=True, timeout=120, check=True)
    return {line for line in done.stdout.splitlines() if line.startswith("| ")}


@pytest.mark.parametrize("executable", list(OWN))
def test_readme_rows_are_the_executables_own_rows(executable: str) -> None:
    assert set(readme_rows(executable)) - about_rows(executable) == set()


@pytest.mark.parametrize("executable", list(OWN))
def test_readme_lists_every_own_setting(executable: str) -> None:
    listed = {row.split("|")[1].strip() for row in readme_rows(executable)}
    assert OWN[executable] - listed == set()
