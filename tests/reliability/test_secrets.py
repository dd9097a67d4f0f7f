"""Runs last (conftest orders it): nothing the suite produced holds a secret."""

from __future__ import annotations

from pathlib import Path

from .conftest import ACCESS_TOKEN, REFRESH_TOKEN, Secrets


def test_no_secret_in_any_log_stdout_state_results_or_ledger(
    artifacts: Path, secrets: Secrets
) -> None:
    secrets.collect()
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    if not kinds & {".sqlite", ".jsonl"}:  # this test alone: make one output to look at
        import pytest

        pytest.skip("run with the rest of tests/reliability: no outputs to search")
    assert {".log", ".stderr", ".jsonl", ".sqlite", ".json"} <= kinds | {
        s for p in files for s in p.suffixes}
    needles = {s.encode() for s in secrets.values if len(s) >= 8}
    assert len(needles) > 10, "the suite saw tokens to look for"
    found = []
    for path in files:
        data = path.read_bytes()
        found += [f"{path.relative_to(artifacts)}: a known secret"
                  for needle in needles if needle in data]
        found += [f"{path.relative_to(artifacts)}: an access token"
                  for _ in ACCESS_TOKEN.finditer(data)][:1]
        found += [f"{path.relative_to(artifacts)}: a refresh token"
                  for _ in REFRESH_TOKEN.finditer(data)][:1]
    assert found == [], found[:20]
