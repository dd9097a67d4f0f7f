"""Token rotation under concurrency and crashes, on the sandbox's scaled clock."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exact_online_core.auth import FileTokenStore
from exact_online_sandbox.server import Sandbox

from .conftest import Secrets

WORKER = str(Path(__file__).with_name("token_worker.py"))


def clock_args(sandbox: Sandbox) -> list[str]:
    """The sandbox clock's own parameters, so workers compute exactly its time."""
    assert sandbox.app is not None
    clock = sandbox.app.clock
    origin = clock._origin_epoch + clock._advanced
    return [repr(origin), repr(clock._origin_real), repr(clock.scale)]


def start_worker(sandbox: Sandbox, store: Path, seed: str, seconds: float,
                 stderr: Path) -> subprocess.Popen[str]:
    with open(stderr, "a") as err:
        return subprocess.Popen(
            [sys.executable, WORKER, sandbox.base_url, str(store), seed, *clock_args(sandbox),
             str(seconds)], stdout=subprocess.PIPE, stderr=err, text=True)


def is_live(sandbox: Sandbox, refresh_token: str) -> bool:
    """The sandbox's current refresh token of its grant is this one."""
    assert sandbox.app is not None
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    with sandbox.app.store.transaction() as conn:
        row = conn.execute("SELECT current FROM sb_refresh_tokens WHERE token_hash = ?",
                           (digest,)).fetchone()
    return row is not None and bool(row[0])


@pytest.fixture
def fast_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    scale = getattr(request, "param", 900.0)
    with Sandbox(seed=42, scale=scale) as sb:
        sb.set_limits(minutely=10**6, daily=10**7, token_daily=10**6)
        yield sb


@pytest.mark.slow
def test_eight_processes_share_one_store_through_many_refreshes_without_token_errors(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets
) -> None:
    sandbox = fast_sandbox  # x900: a token is refreshed every 0.63 s of real time
    store_path = tmp_path / "tokens.json"
    secrets.stores.append(store_path)
    seed = sandbox.mint_refresh_token()
    secrets.values.add(seed)
    sandbox.clear_calls()
    workers = [start_worker(sandbox, store_path, seed, 10.0, out_dir / f"worker-{i}.stderr")
               for i in range(8)]
    store = FileTokenStore(store_path)
    samples: list[bool] = []
    stop = threading.Event()

    def watch() -> None:
        """Under the store's lock (no refresh in flight): the store holds the live token."""
        while not stop.wait(0.03):
            with store.lock():
                tokens = store.read()
                if tokens is not None:
                    samples.append(is_live(sandbox, tokens.refresh_token.reveal()))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    reports = []
    for worker in workers:
        stdout, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, (out_dir / "worker-0.stderr").read_text()[-2000:]
        reports.append(json.loads(stdout))
    stop.set()
    watcher.join(timeout=10)
    (out_dir / "workers.json").write_text(json.dumps(reports))

    token_calls = sandbox.calls()["by_endpoint_status"]["POST oauth2/token"]
    refreshes = sum(r["refreshes"] for r in reports)
    assert token_calls == {"200": refreshes}, "no 'Old refresh token' (401), no 'too early' (400)"
    assert refreshes >= 10, "many refresh cycles"
    assert all(r["failures"] == 0 and r["calls"] > 0 for r in reports), reports
    assert len(samples) > 50 and all(samples), f"{samples.count(False)} stale of {len(samples)}"
    final = store.read()
    assert final is not None
    secrets.collect()
    sandbox.advance_clock(600)  # Exact refuses a refresh within 570 s of the last one
    answer = sandbox.token_request(grant_type="refresh_token",
                                   refresh_token=final.refresh_token.reveal())
    assert answer.status_code == 200, "the stored refresh token is the live one"
    secrets.values.update(answer.json()[k] for k in ("access_token", "refresh_token"))


@pytest.mark.parametrize("fast_sandbox", [1.0], indirect=True)
def test_process_killed_while_refreshing_leaves_a_readable_unlocked_store(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets
) -> None:
    sandbox = fast_sandbox
    store_path = tmp_path / "tokens.json"
    seed = sandbox.mint_refresh_token()
    secrets.values.add(seed)
    sandbox.inject_fault("*/oauth2/token", method="POST", kind="delay", seconds=5)
    worker = start_worker(sandbox, store_path, seed, 30.0, out_dir / "worker.stderr")
    deadline = time.monotonic() + 20
    while sandbox.control.get("/faults")["faults"][0]["remaining"] > 0:
        assert time.monotonic() < deadline, "the worker never reached the token endpoint"
        time.sleep(0.02)
    time.sleep(0.2)  # inside the refresh: the lock is held, the answer not yet in
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    store = FileTokenStore(store_path, lock_timeout=2)
    with store.lock():  # the dead process's lock is released
        tokens = store.read()
    assert tokens is not None
    assert tokens.refresh_token.reveal() == seed
    assert not list(tmp_path.glob(".tokens.json.*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("fast_sandbox", [6000.0], indirect=True)
def test_processes_killed_at_random_points_of_refresh_cycles_leave_a_readable_store(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets
) -> None:
    sandbox = fast_sandbox  # x6000: a refresh every 95 ms of real time
    store_path = tmp_path / "tokens.json"
    secrets.stores.append(store_path)
    rng = random.Random(8)
    for round_ in range(15):
        seed = sandbox.mint_refresh_token()  # a kill may leave a rotated-away token behind
        secrets.values.add(seed)
        worker = start_worker(sandbox, store_path, seed, 30.0, out_dir / "worker.stderr")
        time.sleep(rng.uniform(0.3, 1.2))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        store = FileTokenStore(store_path, lock_timeout=2)
        with store.lock():
            tokens = store.read()
        assert tokens is not None, f"round {round_}"
        secrets.collect()
    refreshed = sandbox.calls()["by_endpoint_status"].get("POST oauth2/token", {}).get("200", 0)
    assert refreshed >= 15, "the kills landed among refresh cycles"
