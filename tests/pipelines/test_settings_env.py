"""Every setting of both plugins can come from the environment, as Meltano users set them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exact_online_core.config import ExactConfig

from .helpers import MELTANO, ROOT, Pipeline

PLUGINS = {"tap-exact-online": "TAP_EXACT_ONLINE_", "target-exact-online": "TARGET_EXACT_ONLINE_"}


def about(executable: str) -> dict[str, Any]:
    done = subprocess.run([str(ROOT / ".venv" / "bin" / executable), "--about", "--format=json"],
                          capture_output=True, text=True, timeout=60, check=True)
    properties: dict[str, Any] = json.loads(done.stdout)["settings"]["properties"]
    return properties


def about_settings(executable: str) -> list[str]:
    return list(about(executable))


def sample(schema: dict[str, Any]) -> tuple[str, Any]:
    """An environment value for a setting of this JSON schema, and what the plugin must get."""
    types: list[str] = []
    for option in [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]:
        found = option.get("type", []) if isinstance(option, dict) else []
        types += found if isinstance(found, list) else [found]
    if "enum" in schema:
        return str(schema["enum"][0]), schema["enum"][0]
    if "array" in types:
        return "[100002]", [100002]
    if "object" in types:
        return '{"k": "v"}', {"k": "v"}
    if "boolean" in types:
        return "true", True
    if "integer" in types or "number" in types:
        return "7", 7
    return "value-from-env", "value-from-env"


@pytest.mark.parametrize(("plugin", "prefix"), list(PLUGINS.items()))
def test_every_setting_of_the_plugin_has_an_environment_variable(
    plugin: str, prefix: str, meltano_installed: None, tmp_path: Path
) -> None:
    done = subprocess.run(
        [MELTANO, "config", "list", "--all", plugin],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "MELTANO_ENVIRONMENT": "dev",
             "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
             "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}"},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    listed = dict(re.findall(r"^(\w+) \[env: (\w+)\]", done.stdout, re.MULTILINE))
    for setting in about_settings(plugin):
        assert listed.get(setting) == prefix + setting.upper(), f"{plugin}: {setting}"


@pytest.mark.parametrize(("plugin", "prefix"), list(PLUGINS.items()))
def test_every_setting_set_by_environment_variable_reaches_the_plugin(
    plugin: str, prefix: str, meltano_installed: None, tmp_path: Path
) -> None:
    settings = {name: schema for name, schema in about(plugin).items()
                if name not in {"region", "start_date"}}
    env = {"PATH": "/usr/bin:/bin", "MELTANO_ENVIRONMENT": "dev",
           "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
           f"{prefix}REGION": "be", f"{prefix}START_DATE": "2024-01-31T00:00:00Z"}
    expected = {"region": "be"}
    for name, schema in settings.items():
        env[prefix + name.upper()], expected[name] = sample(schema)
    # kind string in meltano.yml (so that `all` can be set): the list arrives as its JSON text,
    # which both plugins read (test_divisions_all_and_lists_can_be_set_through_meltano)
    expected["divisions"] = "[100002]"
    done = subprocess.run([MELTANO, "invoke", "--dump", "config", plugin], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    config = json.loads(done.stdout)
    for name, value in expected.items():
        assert config.get(name) == value, f"{prefix}{name.upper()}"


def test_divisions_from_the_environment_decide_what_is_synced(pipeline: Pipeline) -> None:
    pipeline.run("tap-exact-online", "target-postgres",
                 env={"TAP_EXACT_ONLINE_DIVISIONS": "[100002]"})

    for table in ("generic_company", "generic_contact", "accounting_invoice"):
        divisions = {row["division"] for row in pipeline.rows(table, "DISTINCT division")}
        assert divisions == {100002}, table


def test_target_settings_from_the_environment_take_effect(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    sandbox = pipeline.sandbox
    env = {
        "TARGET_EXACT_ONLINE_BASE_URL": sandbox.base_url,
        "TARGET_EXACT_ONLINE_REFRESH_TOKEN": sandbox.mint_refresh_token(),
        "TARGET_EXACT_ONLINE_TOKEN_STORE": str(tmp_path / "target-tokens.json"),
        "TARGET_EXACT_ONLINE_RESULTS_PATH": str(tmp_path / "results.jsonl"),
        "TARGET_EXACT_ONLINE_LEDGER_PATH": str(tmp_path / "ledger.sqlite"),
        "TARGET_EXACT_ONLINE_DRY_RUN": "true",
    }
    sandbox.clear_calls()

    pipeline.run("tap-jsonl--company-corrections", "target-exact-online", env=env)

    assert sandbox.calls()["total"] == 0  # dry_run: not one call to Exact
    assert (tmp_path / "results.jsonl").exists()


@pytest.mark.parametrize(
    ("plugin", "definition"),
    [("tap-exact-online", "plugins/extractors/tap-exact-online--exact-online.yml"),
     ("target-exact-online", "plugins/loaders/target-exact-online--exact-online.yml")],
)
def test_hub_definition_file_declares_every_setting(plugin: str, definition: str) -> None:
    import yaml  # type: ignore[import-untyped]  # (installed with Meltano)

    declared = yaml.safe_load((ROOT / definition).read_text())
    assert declared["name"] == plugin
    names = {setting["name"] for setting in declared["settings"]}
    assert set(about_settings(plugin)) <= names


def meltano_in_a_copy(project: Path, *args: str, env: dict[str, str] | None = None
                      ) -> subprocess.CompletedProcess[str]:
    """meltano on a copy of the project's meltano.yml (``config set`` writes to it)."""
    if not (project / "meltano.yml").exists():
        project.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "meltano.yml", project / "meltano.yml")
    base = {"PATH": "/usr/bin:/bin", "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DATABASE_URI": f"sqlite:///{project / 'meltano.db'}"}
    return subprocess.run([MELTANO, *args], cwd=project, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("how", "value", "divisions"),
    [
        ("config-set", "all", "all"),
        ("env", "all", "all"),
        ("config-set", "[100001, 100002]", [100001, 100002]),
        ("env", "[100002]", [100002]),
        ("env", "100001,100002", [100001, 100002]),
    ],
)
def test_divisions_all_and_lists_can_be_set_through_meltano(
    how: str, value: str, divisions: Any, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    env: dict[str, str] = {}
    if how == "config-set":
        done = meltano_in_a_copy(project, "config", "set", "tap-exact-online", "divisions", value)
        assert done.returncode == 0, done.stderr[-2000:]
    else:
        env["TAP_EXACT_ONLINE_DIVISIONS"] = value
    done = meltano_in_a_copy(project, "config", "--unsafe", "print", "tap-exact-online", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads(done.stdout)
    assert ExactConfig.from_mapping(config).divisions == divisions
