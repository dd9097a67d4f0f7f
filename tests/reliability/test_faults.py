"""Faults injected in the middle of a sync: the run ends with exactly the sandbox's data, or
stops with a clear error and resumes from its STATE to exactly the sandbox's data.

The fault tests only read the sandbox: they share one seeded sandbox and the records of one
fault-free sync of it (the data every faulted run must end with); each test takes tokens of
its own and leaves no fault behind."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.helpers import exact_keys

from exact_online_core.errors import ExactError
from exact_online_sandbox.server import Sandbox

from .conftest import (
    TAP,
    SandboxClock,
    Secrets,
    TapOutput,
    by_key,
    connector_settings,
    discover,
    tap_in_process,
    write_json,
)

SIZE = {"accounts": 3500, "contacts": 1500, "items": 20, "invoices": 10}
STREAMS = {"generic_company": "crm/Accounts", "generic_contact": "crm/Contacts"}
SCALE = 60.0  # a sandbox minute is a real second: 429 waits and back-off follow it
INJECT_AFTER = 1500  # records emitted before the fault is injected
MAX_RETRIES = 4  # a fault answered more often than this in a row stops the run

FAULTS: dict[str, dict[str, Any]] = {
    "429-burst": {"kind": "rate_limit", "count": 3},
    "429-storm": {"kind": "rate_limit", "count": 12},
    "500": {"kind": "status", "status": 500, "count": 2},
    "503": {"kind": "status", "status": 503, "count": 3},
    "timeout": {"kind": "delay", "seconds": 1.6, "count": 2},
    "connection-reset": {"kind": "reset", "count": 2},
    "malformed-json": {"kind": "malformed", "count": 2},
    "truncated-json": {"kind": "truncated", "count": 2},
    "503-that-outlasts-the-retries": {"kind": "status", "status": 503, "count": 1000},
    "malformed-json-that-outlasts-the-retries": {"kind": "malformed", "count": 1000},
}


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=42, size=SIZE, scale=SCALE) as sb:
        sb.set_limits(minutely=100000, daily=1000000, token_daily=100000)
        yield sb


@pytest.fixture
def scaled_sandbox(shared_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The module's sandbox, its faults cleared after the test (one that is absorbed stays
    listed, spent)."""
    yield shared_sandbox
    shared_sandbox.clear_faults()


@pytest.fixture(scope="module")
def expected(shared_sandbox: Sandbox, artifacts: Path, secrets: Secrets,
             tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, dict[tuple[int, str], dict[str, Any]]]:
    """What a target holds after a fault-free sync: every row of the sandbox, each once."""
    config = connector_settings(shared_sandbox, tmp_path_factory.mktemp("faults-baseline"),
                                timeout=1, max_retries=MAX_RETRIES)
    secrets.values.add(config["refresh_token"])
    out = artifacts / "faults-baseline"
    out.mkdir(exist_ok=True)
    baseline = tap_in_process(config, out, SandboxClock.of(shared_sandbox),
                              catalog=discover(config, set(STREAMS)), label="baseline")
    secrets.add_store(Path(config["token_store"]))
    assert baseline.error is None, baseline.error
    records = final_records(baseline)
    assert {s: set(r) for s, r in records.items()} == sandbox_data(shared_sandbox)
    return records


def sandbox_data(sandbox: Sandbox) -> dict[str, set[tuple[int, str]]]:
    return {stream: exact_keys(sandbox, path, "ID") for stream, path in STREAMS.items()}


def final_records(*runs: TapOutput) -> dict[str, dict[tuple[int, str], dict[str, Any]]]:
    """Per stream, what a target would hold after these runs (records a resume re-sent win)."""
    return {stream: by_key([r for run in runs for r in run.records(stream)])
            for stream in STREAMS}


def comparable(records: dict[str, dict[tuple[int, str], dict[str, Any]]]) -> dict[str, Any]:
    return {s: {k: {f: v for f, v in r.items() if f != "_sdc_extracted_at"}
                for k, r in rs.items()} for s, rs in records.items()}


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
def test_fault_mid_sync_is_absorbed_or_stops_clearly_and_resumes_to_exactly_the_data(
    fault: dict[str, Any], scaled_sandbox: Sandbox, make_settings: Callable[..., dict[str, Any]],
    out_dir: Path, expected: dict[str, dict[tuple[int, str], dict[str, Any]]],
) -> None:
    sandbox = scaled_sandbox
    config = make_settings(sandbox, timeout=1, max_retries=MAX_RETRIES)
    catalog = discover(config, set(STREAMS))
    assert sandbox.control.get("/faults")["faults"] == []
    emitted = 0

    def inject(message: dict[str, Any]) -> None:
        nonlocal emitted
        if message["type"] == "RECORD":
            emitted += 1
            if emitted == INJECT_AFTER:
                sandbox.inject_fault("*/sync/CRM/*", method="GET", **fault)

    sandbox.clear_calls()
    faulted = tap_in_process(config, out_dir, SandboxClock.of(sandbox), catalog=catalog,
                             on_message=inject, label="faulted")
    assert emitted >= INJECT_AFTER
    [rule] = sandbox.control.get("/faults")["faults"]
    assert rule["remaining"] < fault["count"], "the fault fired during the sync"
    runs = [faulted]
    if fault["count"] <= MAX_RETRIES:
        assert faulted.error is None, f"a short fault is absorbed: {faulted.error!r}"
    else:
        assert faulted.error is not None, "a fault that outlasts the retries stops the run"
        assert isinstance(faulted.error, ExactError), repr(faulted.error)
        message = str(faulted.error)
        assert "GET sync/CRM/" in message and "division" in message, message
        sandbox.clear_faults()
        resumed = tap_in_process(config, out_dir, SandboxClock.of(sandbox), catalog=catalog,
                                 state=faulted.state, label="resumed")
        assert resumed.error is None, resumed.error
        runs.append(resumed)
    assert comparable(final_records(*runs)) == comparable(expected)


@pytest.mark.slow
def test_sandbox_killed_and_restarted_mid_sync_ends_with_exactly_its_data(
    tmp_path: Path, make_settings: Callable[..., dict[str, Any]], out_dir: Path,
) -> None:
    with Sandbox(seed=42, size=SIZE, process=True, data_dir=tmp_path / "sandbox") as sandbox:
        sandbox.set_limits(minutely=100000, daily=1000000, token_daily=100000)
        config = make_settings(sandbox, timeout=5)
        expected = sandbox_data(sandbox)
        config_path = write_json(tmp_path / "tap-config.json", config)
        catalog_path = write_json(tmp_path / "catalog.json", discover(config, set(STREAMS)))
        command = [TAP, "--config", str(config_path), "--catalog", str(catalog_path)]
        runs: list[list[dict[str, Any]]] = []
        state: dict[str, Any] | None = None
        restarted = False
        for attempt in range(3):
            extra = []
            if state is not None:
                extra = ["--state", str(write_json(out_dir / f"state-{attempt}.json", state))]
            with open(out_dir / f"tap-{attempt}.stderr", "w") as stderr:
                proc = subprocess.Popen(command + extra, stdout=subprocess.PIPE, stderr=stderr,
                                        text=True)
                assert proc.stdout is not None
                messages: list[dict[str, Any]] = []
                records = 0
                with open(out_dir / f"tap-{attempt}.stdout", "w") as copy:
                    for line in proc.stdout:
                        copy.write(line)
                        message = json.loads(line)
                        messages.append(message)
                        if message["type"] == "STATE":
                            state = message["value"]
                        records += message["type"] == "RECORD"
                        if not restarted and records >= INJECT_AFTER:
                            sandbox.kill()
                            time.sleep(1.0)
                            sandbox.restart()
                            restarted = True
                returncode = proc.wait(timeout=300)
            runs.append(messages)
            if returncode == 0:
                break
            stderr_text = (out_dir / f"tap-{attempt}.stderr").read_text()
            assert "Traceback" not in stderr_text.splitlines()[-1]
        assert restarted and returncode == 0
        assert sandbox_data(sandbox) == expected, "the restart kept the data"
    emitted: dict[str, set[tuple[int, str]]] = {s: set() for s in STREAMS}
    for messages in runs:
        for m in messages:
            if m["type"] == "RECORD":
                emitted[m["stream"]].add((m["record"]["division"], m["record"]["id"]))
    assert emitted == expected
