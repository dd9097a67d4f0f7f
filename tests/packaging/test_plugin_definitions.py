"""plugins/*.yml are Meltano Hub definitions generated from the executables, and meltano.yml
declares the same settings and capabilities."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "hub_schemas"
SCRIPT = ROOT / "scripts" / "plugin_definitions.py"
PLUGINS = {"tap-exact-online": "extractors", "target-exact-online": "loaders"}


def repository() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        url: str = tomllib.load(file)["project"]["urls"]["Repository"]
    return url


def definition_file(executable: str) -> Path:
    [path] = (ROOT / "plugins" / PLUGINS[executable]).glob(f"{executable}--*.yml")
    return path


def definition(executable: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(definition_file(executable).read_text())
    return data


def meltano_plugin(executable: str) -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [plugin] = [p for p in project["plugins"][PLUGINS[executable]] if p["name"] == executable]
    return dict(plugin)


def hub_validator(plugin_type: str) -> jsonschema.Draft7Validator:
    """The Hub's schema, its relative $refs resolved from the vendored files by name."""

    def retrieve(uri: str) -> Resource:
        [path] = SCHEMAS.rglob(uri.rsplit("/", 1)[-1])
        return Resource.from_contents(json.loads(path.read_text()),
                                      default_specification=DRAFT7)

    schema = json.loads((SCHEMAS / "plugin_definitions" / f"{plugin_type}.schema.json")
                        .read_text())
    return jsonschema.Draft7Validator(schema, registry=Registry(retrieve=retrieve))


def test_definitions_and_meltano_yml_are_what_the_script_generates_now() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("executable", PLUGINS)
def test_definition_validates_against_the_hub_schema(executable: str) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in hub_validator(PLUGINS[executable]).iter_errors(definition(executable))]
    assert errors == []


@pytest.mark.parametrize("breakage", ["no quality", "unknown setting kind",
                                      "unknown capability", "setting description a map"])
def test_hub_schema_check_catches_what_the_hub_would_refuse(breakage: str) -> None:
    """Also the rules behind the schema's relative $refs (settings, capabilities)."""
    broken = definition("tap-exact-online")
    if breakage == "no quality":
        del broken["quality"]
    elif breakage == "unknown setting kind":
        broken["settings"][0]["kind"] = "text"
    elif breakage == "unknown capability":
        broken["capabilities"].append("deletes")
    else:
        broken["settings"][0]["description"] = {"Extra streams on any Exact endpoint (name": None}
    assert not hub_validator("extractors").is_valid(broken)


@pytest.mark.parametrize("executable", PLUGINS)
def test_meltano_yml_has_the_definitions_settings_and_capabilities(executable: str) -> None:
    hub, local = definition(executable), meltano_plugin(executable)
    assert local["capabilities"] == hub["capabilities"]
    assert local["settings"] == hub["settings"]
    assert local["settings_group_validation"] == hub["settings_group_validation"]


@pytest.mark.parametrize("executable", PLUGINS)
def test_definition_matches_what_the_executable_says_about_itself(executable: str) -> None:
    done = subprocess.run([str(ROOT / ".venv" / "bin" / executable), "--about", "--format=json"],
                          capture_output=True, text=True, timeout=120, check=True)
    about = json.loads(done.stdout)
    hub = definition(executable)
    assert hub["capabilities"] == about["capabilities"]
    properties = about["settings"]["properties"]
    assert [s["name"] for s in hub["settings"]] == list(properties)
    assert {s["name"] for s in hub["settings"] if s.get("sensitive")} == {
        name for name, schema in properties.items() if schema.get("secret")}
    assert {s["name"]: s["description"] for s in hub["settings"] if "description" in s} == {
        name: " ".join(schema["description"].split()) for name, schema in properties.items()
        if schema.get("description")}


@pytest.mark.parametrize("executable", PLUGINS)
def test_every_description_is_a_quoted_string(executable: str) -> None:
    """Unquoted, "{...}" or ": " inside a description would make YAML read a map."""
    text = definition_file(executable).read_text()
    described = re.findall(r"^\s*(?:- )?description: (.*)$", text, re.MULTILINE)
    assert described and all(value.startswith('"') for value in described)
    settings = [*definition(executable)["settings"], *meltano_plugin(executable)["settings"]]
    assert all(isinstance(s.get("description", ""), str) for s in settings)


@pytest.mark.parametrize("executable", PLUGINS)
def test_repository_address_comes_from_pyproject(executable: str) -> None:
    hub = definition(executable)
    assert hub["repo"] == repository()
    assert hub["docs"].startswith(repository() + "#")
    assert hub["variant"] == repository().rstrip("/").split("/")[-2]
    urls = set(re.findall(r"https?://github\.com/[^\s#\"')]+",
                          definition_file(executable).read_text()))
    assert urls == {repository()}


@pytest.mark.parametrize("executable", PLUGINS)
def test_definition_installs_the_distribution_that_ships_the_executable(executable: str) -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    hub = definition(executable)
    assert hub["pip_url"] == project["name"]
    assert executable in project["scripts"]


def test_meltano_selects_by_default_exactly_the_streams_the_tap_selects_by_default(
        tmp_path: Path) -> None:
    # Meltano's own default is `*.*`: without a `select` the pack's streams would be loaded too.
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"client_id": "c", "client_secret": "s", "refresh_token": "r",
                                  "region": "nl"}))
    done = subprocess.run([str(Path(sys.executable).with_name("tap-exact-online")), "--config",
                           str(config), "--discover"], capture_output=True, text=True,
                          timeout=120, check=True)
    by_default = {
        stream["tap_stream_id"] for stream in json.loads(done.stdout)["streams"]
        for entry in stream["metadata"]
        if entry["breadcrumb"] == [] and entry["metadata"].get("selected-by-default")}
    assert by_default, "the tap selects some streams by default"
    select = meltano_plugin("tap-exact-online").get("select") or ["*.*"]
    assert sorted(select) == sorted(f"{stream}.*" for stream in by_default)
