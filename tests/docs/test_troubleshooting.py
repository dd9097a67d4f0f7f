"""README's Troubleshooting says how a daily-budget stop looks; the tap really stops that way."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exact_online_sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[2]
TAP = str(Path(sys.executable).with_name("tap-exact-online"))
RESETS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


@pytest.fixture
def big_sandbox() -> Iterator[Sandbox]:
    """Several pages of companies per division, so a small budget runs out mid-sync."""
    with Sandbox(seed=42, size={"accounts": 6000}) as sandbox:
        yield sandbox


def troubleshooting() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]


def documented(prefix: str, containing: str) -> str:
    """The README's example message starting with ``prefix`` and holding ``containing``, its
    variable parts as regex."""
    rows = "\n".join(line for line in troubleshooting().splitlines() if line.startswith("|"))
    found = next((m for m in re.finditer(rf"`({re.escape(prefix)}[^`]*)`", rows)
                  if containing in m.group(1)), None)
    assert found, f"README Troubleshooting shows no `{prefix}...{containing}...` message"
    # Which call, stream and division meet the limit first depends on the data and on which
    # division worker reads ahead first, the reset time on the day; the wording does not.
    variable = re.compile(
        rf"({RESETS.pattern}|(?<=GET )[\w/]+|(?<=stream )\w+|(?<=division )\d+)")
    parts = variable.split(found.group(1))  # one group: the odd parts are the variable ones
    return "".join(r"\S+" if i % 2 else re.escape(part) for i, part in enumerate(parts))


def run_tap(sandbox: Sandbox, tmp_path: Path, daily: int) -> subprocess.CompletedProcess[str]:
    sandbox.set_limits(minutely=100000, daily=daily)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "base_url": sandbox.base_url, "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret, "refresh_token": sandbox.mint_refresh_token(),
        "token_store": str(tmp_path / "tokens.json"), "divisions": [100001, 100002]}))
    return subprocess.run([TAP, "--config", str(config)], capture_output=True, text=True,
                          timeout=300, check=False)


def test_readme_gives_exit_status_3_for_a_budget_stop_mid_sync() -> None:
    assert "exits with status **3**" in troubleshooting()


def test_budget_spent_before_the_first_record_stops_with_the_documented_line_and_exit_3(
    big_sandbox: Sandbox, tmp_path: Path
) -> None:
    done = run_tap(big_sandbox, tmp_path, daily=0)
    assert done.returncode == 3, done.stderr[-3000:]
    assert '"RECORD"' not in done.stdout
    stops = [line.split("| ")[-1] for line in done.stderr.splitlines() if "Stopping: " in line]
    assert len(stops) == 1, done.stderr[-3000:]
    assert re.fullmatch(documented("Stopping: ", "before the first record"), stops[0]), stops[0]
    assert not any(line.startswith("error:") for line in done.stderr.splitlines())


def test_budget_spent_mid_sync_stops_with_the_documented_line_exit_3_and_saved_state(
    big_sandbox: Sandbox, tmp_path: Path
) -> None:
    done = run_tap(big_sandbox, tmp_path, daily=14)
    assert done.returncode == 3, done.stderr[-3000:]
    stops = [line.split("| ")[-1] for line in done.stderr.splitlines() if "Stopping: " in line]
    assert len(stops) == 1, done.stderr[-3000:]
    assert re.fullmatch(documented("Stopping: ", "(stream "), stops[0]), stops[0]
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert any(m["type"] == "RECORD" for m in messages)
    assert messages[-1]["type"] == "STATE", "the last message is the state to resume from"
    assert not any(line.startswith("error:") for line in done.stderr.splitlines())
