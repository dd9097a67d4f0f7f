"""A damaged or foreign state, and bad settings: the real tap ends with one ``error:`` line
that names what is wrong and where, before any record, and without a traceback."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import TAP

Config = Callable[..., Path]

BAD_STATES: dict[str, tuple[Any, list[str]]] = {
    "partitions-not-a-list": (
        {"bookmarks": {"generic_company": {"partitions": "x"}}},
        ["bookmarks.generic_company.partitions", "must be a list", '"x"'],
    ),
    "deleted-since-not-a-timestamp": (
        {"bookmarks": {"generic_contact": {"partitions": [
            {"context": {"division": 100001}, "replication_key": "exact_timestamp",
             "replication_key_value": 10000000100, "deleted_since": "zzz"}]}}},
        ["bookmarks.generic_contact.partitions[0].deleted_since", "sync/Deleted Timestamp",
         '"zzz"'],
    ),
    "another-taps-state": (
        {"bookmarks": {"issues": {"replication_key": "updated_at",
                                  "replication_key_value": "2024-05-01T00:00:00Z"}}},
        ["bookmarks.issues", "not written by tap-exact-online"],
    ),
    "another-taps-partitions": (
        {"bookmarks": {"issues": {"partitions": [{"context": {"org": "acme", "repo": "x"}}]}}},
        ["bookmarks.issues.partitions[0].context", "not written by tap-exact-online"],
    ),
    "bookmarks-not-an-object": (
        {"bookmarks": ["generic_company"]},
        ['"bookmarks" must be an object'],
    ),
    "bookmark-not-a-bookmark": (
        {"bookmarks": {"generic_company": {"partitions": [
            {"context": {"division": 100001}, "replication_key_value": {"x": 1}}]}}},
        ["partitions[0].replication_key_value", "Exact Timestamp"],
    ),
}


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TAP, *args], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("case", list(BAD_STATES), ids=list(BAD_STATES))
def test_bad_state_file_gets_one_error_naming_the_key_and_the_file(
    case: str, tap_config: Config, tmp_path: Path
) -> None:
    state, expected = BAD_STATES[case]
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    done = run(["--config", str(tap_config()), "--state", str(path)])
    assert done.returncode == 1
    assert '"RECORD"' not in done.stdout
    [line] = error_lines(done.stderr)
    assert f"--state {path}" in line
    for part in expected:
        assert part in line, line


BAD_SETTINGS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "division-zero": ({"divisions": [0]}, ["'divisions'", "0 is not a division code"]),
    "division-negative": ({"divisions": [-5]}, ["'divisions'", "-5 is not a division code"]),
    "timeout-infinite": ({"timeout": float("inf")}, ["'timeout'", "finite"]),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS), ids=list(BAD_SETTINGS))
@pytest.mark.parametrize("mode", ["sync", "discover"])
def test_bad_setting_gets_one_error_naming_the_setting(
    case: str, mode: str, tap_config: Config
) -> None:
    settings, expected = BAD_SETTINGS[case]
    config = tap_config(**settings)
    config.write_text(config.read_text().replace("Infinity", "1e999"))  # inf, read as JSON
    done = run(["--config", str(config), *(["--discover"] if mode == "discover" else [])])
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = error_lines(done.stderr)
    for part in expected:
        assert part in line, line


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_or_infinity_in_the_config_file_gets_one_error_naming_the_setting(
    constant: str, tap_config: Config
) -> None:
    config = tap_config(timeout=12345)
    config.write_text(config.read_text().replace("12345", constant))
    done = run(["--config", str(config)])
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = error_lines(done.stderr)
    assert f"--config {config}" in line and f"timeout is {constant}" in line, line
