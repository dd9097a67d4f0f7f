"""README's settings reference is what `--about --format=markdown` prints, for every own setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def declared(cls: str) -> set[str]:
    """The settings a plugin class declares itself, read in a fresh interpreter: the SDK adds
    its built-in settings to the class's schema in place once a plugin is instantiated."""
    module, name = cls.rsplit(".", 1)
    code = (f"import json; from {module} import {name}; "
            f"print(json.dumps(list({name}.config_jsonschema['properties'])))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    return set(json.loads(done.stdout))


TAP_OWN = declared("tap_exact_online.tap.TapExactOnline")
OWN = {
    "tap-exact-online": TAP_OWN,
    # the target's table lists what it adds to the connection settings the tap's table has
    "target-exact-online": declared("target_exact_online.target.TargetExactOnline") - TAP_OWN,
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
