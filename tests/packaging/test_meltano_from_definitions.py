"""The Hub definitions work as a new user uses them: a fresh Meltano project adds both plugins
with `meltano add --from-ref plugins/...yml`, installs them and runs a sync against the sandbox.

The only change to the definitions is ``pip_url``: the local checkout instead of the package
index, so the test installs this code.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exact_online_core.version import version
from exact_online_sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[2]
MELTANO = str(ROOT / ".venv" / "bin" / "meltano")
DEFINITIONS = {
    ("extractor", "tap-exact-online"): ROOT / "plugins" / "extractors",
    ("loader", "target-exact-online"): ROOT / "plugins" / "loaders",
}

pytestmark = pytest.mark.slow  # two plugin installs and a pipeline: about 60 s


def meltano(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([MELTANO, *args], cwd=project, env=env or clean_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stderr[-5000:]}"
    return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """This shell's environment without any plugin or Meltano setting, plus ``extra``."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("TAP_", "TARGET_", "MELTANO_", "EXACT_ONLINE_"))}
    return {**keep, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **extra}


def local_definition(folder: Path, name: str, into: Path) -> Path:
    [source] = folder.glob(f"{name}--*.yml")
    definition: dict[str, Any] = yaml.safe_load(source.read_text())
    definition["pip_url"] = str(ROOT)
    path = into / source.name
    path.write_text(yaml.safe_dump(definition, sort_keys=False))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A new Meltano project with both plugins added from the repository's definitions."""
    meltano(tmp_path, "init", "fresh", "--no-usage-stats")
    project = tmp_path / "fresh"
    meltano(project, "config", "set", "meltano", "venv.backend", "uv")
    for (plugin_type, name), folder in DEFINITIONS.items():
        reference = local_definition(folder, name, tmp_path)
        meltano(project, "add", "--plugin-type", plugin_type, name, "--from-ref", str(reference))
    return project


def test_plugins_added_from_the_definitions_install_and_run_a_sync(
    project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.set_limits(minutely=100000, daily=100000)
    for name in ("tap-exact-online", "target-exact-online"):
        assert meltano(project, "invoke", name, "--version").startswith(f"{name} v{version()}")
    meltano(project, "select", "tap-exact-online", "generic_company", "*")
    connection = {"BASE_URL": sandbox.base_url, "CLIENT_ID": sandbox.client_id,
                  "CLIENT_SECRET": sandbox.client_secret,
                  "REFRESH_TOKEN": sandbox.mint_refresh_token(),
                  "TOKEN_STORE": str(tmp_path / "tokens.json"),
                  "DIVISIONS": "[100001, 100002]"}
    results = tmp_path / "results.jsonl"
    env = clean_env(
        **{f"TAP_EXACT_ONLINE_{k}": v for k, v in connection.items()},
        **{f"TARGET_EXACT_ONLINE_{k}": v for k, v in connection.items()},
        TARGET_EXACT_ONLINE_RESULTS_PATH=str(results),
    )
    names_before = company_names(sandbox)

    meltano(project, "run", "tap-exact-online", "target-exact-online", env=env)

    outcomes = [json.loads(line) for line in results.read_text().splitlines()]
    records = [o for o in outcomes if "outcome" in o]
    assert len(records) == len(names_before)  # every company read was written back once
    assert {o["outcome"] for o in records} <= {"updated", "unchanged"}
    assert company_names(sandbox) == names_before
    assert "tap-exact-online-to-target-exact-online" in meltano(project, "state", "list",
                                                                  env=env)


def company_names(sandbox: Sandbox) -> dict[tuple[int, str], str]:
    token = sandbox.access_token()
    names = {}
    for division in (100001, 100002):
        rows = sandbox.call(token, "crm/Accounts?$select=ID,Name", division=division).json()
        names.update({(division, row["ID"]): row["Name"] for row in rows["d"]["results"]})
    return names
