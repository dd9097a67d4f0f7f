"""Meltano Hub plugin definitions (plugins/) and meltano.yml's plugin settings, generated.

One source of truth: the settings (names, descriptions, secrets, defaults, options), the
capabilities and the supported Pythons come from each executable's own
``--about --format=json``; the repository URL, the package to install and the version from
pyproject.toml (``[project]``, ``[project.urls] Repository``). What the executables cannot
know (label, keywords, the website of Exact, maintenance status) is in ``PLUGINS`` below.

    .venv/bin/python scripts/plugin_definitions.py          # write plugins/*.yml and meltano.yml
    .venv/bin/python scripts/plugin_definitions.py --check  # exit 1 when a file is stale

In meltano.yml only the lines between the ``BEGIN generated`` and ``END generated`` markers of
``tap-exact-online`` and ``target-exact-online`` are replaced.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MELTANO_YML = ROOT / "meltano.yml"

PLUGINS: dict[str, dict[str, Any]] = {
    "tap-exact-online": {
        "type": "extractors",
        "label": "Exact Online",
        "keywords": ["erp", "accounting", "exact-online", "meltano_sdk"],
        "docs_anchor": "#readme",
    },
    "target-exact-online": {
        "type": "loaders",
        "label": "Exact Online",
        "keywords": ["erp", "accounting", "exact-online", "reverse-etl", "meltano_sdk"],
        "docs_anchor": "#writing-back-target-exact-online",
    },
}
DOMAIN_URL = "https://www.exact.com/"
MAINTENANCE_STATUS = "beta"
QUALITY = "unknown"  # Meltano Hub assigns the connector quality after review

OPTION_LABELS: dict[str, dict[str, str]] = {
    "region": {"nl": "Netherlands", "be": "Belgium", "de": "Germany", "uk": "United Kingdom",
               "us": "United States", "fr": "France", "es": "Spain"},
}
ACRONYMS = {"id": "ID", "url": "URL", "uri": "URI", "odata": "OData"}
KINDS = {"string": "string", "boolean": "boolean", "integer": "integer", "number": "integer",
         "object": "object", "array": "array"}
"""JSON type → Meltano setting kind. ``number`` (``timeout``) is ``integer``: Meltano 4.4's
``decimal`` kind turns an environment value into a Decimal it then cannot write as JSON."""


class Quoted(str):
    """A string always written double-quoted (descriptions: never parsed as a map)."""


class Dumper(yaml.SafeDumper):
    """Block style for the structure, one-line flow style for small scalar collections."""


class OneLine(dict[str, Any]):
    """A mapping written on one line (meltano.yml's settings: one line each)."""


Dumper.add_representer(
    Quoted, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value,
                                                          style='"'))
Dumper.add_representer(
    OneLine, lambda dumper, value: dumper.represent_mapping("tag:yaml.org,2002:map", value,
                                                            flow_style=True))


def pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return project


def about(executable: str) -> dict[str, Any]:
    done = subprocess.run([str(BIN / executable), "--about", "--format=json"],
                          capture_output=True, text=True, check=True, timeout=120)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def label(name: str, schema: dict[str, Any]) -> str:
    title = schema.get("title")
    if isinstance(title, str) and "`" not in title:
        return title
    return " ".join(ACRONYMS.get(word, word.capitalize()) for word in name.split("_"))


def kind(schema: dict[str, Any]) -> str:
    """The Meltano kind. A setting that also takes a string (``divisions``: a list, "all",
    or "100001,100002") is ``string``: Meltano's ``array`` kind refuses any value that is not
    a JSON list (``meltano config set … all``, ``TAP_EXACT_ONLINE_DIVISIONS=all``), whereas a
    string reaches the plugin as written, which reads each of these forms."""
    if "enum" in schema:
        return "options"
    types = schema.get("type", [])
    types = [t for t in ([types] if isinstance(types, str) else types) if t != "null"]
    if "string" in types and len(types) > 1:
        return "string"
    first = types[0] if types else "object"
    if first == "string" and schema.get("format") in ("date-time", "date"):
        return "date_iso8601"
    return KINDS[first]


def setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "kind": kind(schema), "label": label(name, schema)}
    if schema.get("description"):
        entry["description"] = Quoted(" ".join(str(schema["description"]).split()))
    if "default" in schema:
        entry["value"] = schema["default"]
    if schema.get("secret"):
        entry["sensitive"] = True
    if "enum" in schema:
        labels = OPTION_LABELS.get(name, {})
        entry["options"] = [
            {"label": labels.get(value, str(value).replace("-", " ").capitalize()),
             "value": value}
            for value in schema["enum"] if value is not None
        ]
    return entry


def plugin_settings(info: dict[str, Any]) -> dict[str, Any]:
    """What meltano.yml and the definition share: capabilities and settings."""
    settings = info["settings"]
    generated: dict[str, Any] = {"capabilities": list(info["capabilities"])}
    if settings.get("required"):
        generated["settings_group_validation"] = [list(settings["required"])]
    generated["settings"] = [setting(name, schema)
                             for name, schema in settings["properties"].items()]
    return generated


def definition(executable: str, info: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    meta = PLUGINS[executable]
    repository = project["urls"]["Repository"].rstrip("/")
    return {
        "name": executable,
        "namespace": executable.replace("-", "_"),
        "variant": variant(repository),
        "label": meta["label"],
        "description": Quoted(info["description"]),
        "domain_url": DOMAIN_URL,
        "docs": repository + meta["docs_anchor"],
        "repo": repository,
        "pip_url": project["name"],
        "executable": executable,
        "maintenance_status": MAINTENANCE_STATUS,
        "quality": QUALITY,
        "keywords": meta["keywords"],
        "supported_python_versions": info["supported_python_versions"],
        **plugin_settings(info),
    }


def variant(repository: str) -> str:
    """Meltano Hub's variant: the namespace (owner) of the repository."""
    return urlsplit(repository).path.strip("/").split("/")[0]


def dump(data: Any, indent: str = "") -> str:
    text = yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=None,
                     allow_unicode=True, width=4096)
    return "".join(indent + line if line.strip() else line for line in text.splitlines(True))


def definition_path(executable: str, info: dict[str, Any], project: dict[str, Any]) -> Path:
    folder = PLUGINS[executable]["type"]
    name = f"{executable}--{variant(project['urls']['Repository'].rstrip('/'))}.yml"
    return ROOT / "plugins" / folder / name


def definition_text(executable: str, info: dict[str, Any], project: dict[str, Any]) -> str:
    path = definition_path(executable, info, project).relative_to(ROOT)
    kind_name = PLUGINS[executable]["type"].rstrip("s")
    header = (
        f"# Meltano Hub definition of {executable}, generated by scripts/plugin_definitions.py\n"
        f"# from `{executable} --about --format=json` and pyproject.toml: do not edit.\n"
        f"# meltano add --plugin-type {kind_name} {executable} --from-ref {path}\n"
    )
    return header + dump(definition(executable, info, project))


BEGIN = "# BEGIN generated by scripts/plugin_definitions.py from `{} --about`: do not edit"
END = "# END generated"


def meltano_yml_text(current: str, infos: dict[str, dict[str, Any]]) -> str:
    for executable, info in infos.items():
        begin = BEGIN.format(executable)
        pattern = re.compile(rf"^( *){re.escape(begin)}\n.*?^ *{re.escape(END)}\n",
                             re.MULTILINE | re.DOTALL)
        match = pattern.search(current)
        if match is None:
            raise SystemExit(f"meltano.yml: no '{begin}' ... '{END}' block for {executable}")
        indent = match.group(1)
        shared = plugin_settings(info)
        shared["settings"] = [OneLine(entry) for entry in shared["settings"]]
        block = f"{indent}{begin}\n{dump(shared, indent)}{indent}{END}\n"
        current = current[:match.start()] + block + current[match.end():]
    return current


def generated_files() -> dict[Path, str]:
    project = pyproject()
    infos = {executable: about(executable) for executable in PLUGINS}
    files = {definition_path(e, info, project): definition_text(e, info, project)
             for e, info in infos.items()}
    files[MELTANO_YML] = meltano_yml_text(MELTANO_YML.read_text(encoding="utf-8"), infos)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 naming each stale file")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path}", file=sys.stderr)
    if args.check and stale:
        print("run: .venv/bin/python scripts/plugin_definitions.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
