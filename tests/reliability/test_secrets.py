"""Runs last (conftest orders it): nothing the suite produced holds a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .conftest import ACCESS_TOKEN, REFRESH_TOKEN, TAP, TARGET, Secrets, run_executable, write_json


def _produce_outputs(out: Path, configs: Path, settings: dict[str, Any]) -> None:
    """Run alone, the test makes its own outputs: a tap sync and a target write.

    The config files hold the secrets by design, so they stay outside the searched folder.
    """
    config = write_json(configs / "config.json", settings)
    tap = run_executable([TAP, "--config", str(config)], out, "tap")
    (out / "tap-state.json").write_text(
        [line for line in tap.stdout.splitlines() if '"STATE"' in line][-1]
    )
    target_config = write_json(
        configs / "target-config.json",
        {
            **settings,
            "results_path": str(out / "results.jsonl"),
            "ledger_path": str(out / "ledger.sqlite"),
        },
    )
    schema = {
        "type": "SCHEMA",
        "stream": "generic_company",
        "key_properties": [],
        "schema": {"properties": {"name": {"type": "string"}}},
    }
    record = {"type": "RECORD", "stream": "generic_company", "record": {"name": "Secret BV"}}
    target = run_executable(
        [TARGET, "--config", str(target_config)],
        out,
        "target",
        stdin=f"{json.dumps(schema)}\n{json.dumps(record)}\n",
    )
    (out / "run.log").write_text(tap.stderr + target.stderr)  # as a scheduler keeps it


def test_no_secret_in_any_log_stdout_state_results_or_ledger(
    artifacts: Path,
    secrets: Secrets,
    sandbox: Sandbox,
    make_settings: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    alone = not any(p.suffix in (".sqlite", ".jsonl") for p in artifacts.rglob("*"))
    if alone:
        out = artifacts / "secrets-own-run"
        out.mkdir(exist_ok=True)
        settings = make_settings(sandbox)
        _produce_outputs(out, tmp_path, settings)
        secrets.add_store(Path(settings["token_store"]))
    secrets.collect()
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".log", ".stderr", ".jsonl", ".sqlite", ".json"} <= kinds | {
        s for p in files for s in p.suffixes
    }
    needles = {s.encode() for s in secrets.values if len(s) >= 8}
    # the whole suite sees many tokens; one own run: secret, seed, access and refresh token
    assert len(needles) > (3 if alone else 10), "the suite saw tokens to look for"
    found = []
    for path in files:
        data = path.read_bytes()
        found += [
            f"{path.relative_to(artifacts)}: a known secret" for needle in needles if needle in data
        ]
        found += [
            f"{path.relative_to(artifacts)}: an access token" for _ in ACCESS_TOKEN.finditer(data)
        ][:1]
        found += [
            f"{path.relative_to(artifacts)}: a refresh token" for _ in REFRESH_TOKEN.finditer(data)
        ][:1]
    assert found == [], found[:20]
