"""Helpers for the target's integration tests (no tests here): run the real executable."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exact_online_core.mappings import json_schema

TARGET = Path(sys.executable).parent / "target-exact-online"
DATA = Path(__file__).resolve().parents[1] / "data_files"
DIVISION = 100001


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    results: list[dict[str, Any]]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["type"] == "record"]

    @property
    def summary(self) -> dict[str, dict[str, Any]]:
        return {r["stream"]: r for r in self.results if r["type"] == "summary"}

    @property
    def states(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def outcomes(self) -> list[str]:
        return [r["outcome"] for r in self.records]


def target_config(settings: Mapping[str, Any], tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {**settings, "results_path": str(tmp_path / "results.jsonl"), **extra}


def write_config(config: Mapping[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "target-config.json"
    path.write_text(json.dumps(config))
    return path


def read_results(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The complete result lines so far: a target still writing (or killed while writing)
    may have left a last line without its newline, which is not a result yet."""
    path = Path(config["results_path"])
    if not path.exists():
        return []
    *complete, _partial = path.read_text().split("\n")
    return [json.loads(line) for line in complete if line.strip()]


def run_target(config: Mapping[str, Any], tmp_path: Path, messages: str | Path,
               timeout: float = 120) -> Run:
    """Run ``target-exact-online --config … < input`` and collect stdout, stderr, results."""
    before = len(read_results(config))
    text = messages.read_text() if isinstance(messages, Path) else messages
    proc = subprocess.run(
        [str(TARGET), "--config", str(write_config(config, tmp_path))],
        input=text, capture_output=True, text=True, timeout=timeout, check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, read_results(config)[before:])


def schema_message(stream: str, model: str | None = None) -> dict[str, Any]:
    schema = json_schema(model or stream)
    schema.pop("$schema", None)
    return {"type": "SCHEMA", "stream": stream, "schema": schema,
            "key_properties": ["division", "id"]}


def singer(stream: str, records: Iterable[Mapping[str, Any]], *, model: str | None = None,
           state: Mapping[str, Any] | None = None) -> str:
    lines = [schema_message(stream, model)]
    lines += [{"type": "RECORD", "stream": stream, "record": dict(r)} for r in records]
    if state is not None:
        lines.append({"type": "STATE", "value": dict(state)})
    return "".join(json.dumps(line) + "\n" for line in lines)


def calls(sandbox: Any, method: str, endpoint: str) -> int:
    return int(sandbox.calls()["by_endpoint"].get(f"{method} {endpoint}", 0))


def write_calls(sandbox: Any) -> int:
    counts = sandbox.calls()["by_endpoint"]
    return sum(n for key, n in counts.items()
               if key.split(" ", 1)[0] in ("POST", "PUT", "DELETE") and "oauth2" not in key)
