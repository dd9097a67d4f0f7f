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
from typing import Any

import pytest

from exact_online_core.auth import FileTokenStore, TokenSet
from exact_online_core.secrets import Secret
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
            [sys.executable, WORKER, "run", sandbox.base_url, str(store), seed,
             *clock_args(sandbox),
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
    assert not store.pending_path.exists()




@pytest.mark.parametrize("point", ["fsync", "pending", "renamed"])
@pytest.mark.parametrize("fast_sandbox", [3000.0], indirect=True)
def test_a_process_killed_while_storing_new_tokens_leaves_them_to_the_next_one(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets, point: str
) -> None:
    sandbox = fast_sandbox
    store_path = tmp_path / "tokens.json"
    secrets.stores.append(store_path)
    seed = sandbox.mint_refresh_token()
    secrets.values.add(seed)
    with open(out_dir / f"die-at-{point}.stderr", "w") as err:
        dying = subprocess.run(
            [sys.executable, WORKER, "die-at", point, sandbox.base_url, str(store_path), seed,
             *clock_args(sandbox)], stderr=err, timeout=60, check=False)
    assert dying.returncode == -signal.SIGKILL
    secrets.collect()
    sandbox.clear_calls()
    store = FileTokenStore(store_path)
    with store.lock():
        tokens = store.read()
    assert tokens is not None
    assert is_live(sandbox, tokens.refresh_token.reveal()), "the new refresh token was lost"
    secrets.collect()
    sandbox.advance_clock(600)
    answer = sandbox.token_request(grant_type="refresh_token",
                                   refresh_token=tokens.refresh_token.reveal())
    secrets.values.update(answer.json().get(k, "") for k in ("access_token", "refresh_token"))
    assert answer.status_code == 200


class Workers:
    """Token workers forked by one spawner process; events read from its stdout."""

    def __init__(self, sandbox: Sandbox, store: Path, seed: str, stop: Path,
                 stderr: Path) -> None:
        self._err = open(stderr, "a")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, WORKER, "spawner", sandbox.base_url, str(store), seed,
             *clock_args(sandbox), str(stop)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err)
        self.live: list[int] = []
        self.phases: dict[int, str] = {}
        self.exited: set[int] = set()
        self.reports: dict[int, dict[str, int]] = {}
        self.durable: list[int] = []
        """Pids in the order their new tokens became durable in the pending file (phase p)."""
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            kind, pid_text, *rest = raw.decode().rstrip("\n").split(" ", 2)
            pid = int(pid_text)
            with self._changed:
                if kind == "spawned":
                    self.live.append(pid)
                elif kind == "phase":
                    self.phases[pid] = self.phases.get(pid, "") + rest[0]
                    if rest[0] == "p":
                        self.durable.append(pid)
                elif kind == "exited":
                    self.exited.add(pid)
                    if pid in self.live:
                        self.live.remove(pid)
                elif kind == "report":
                    self.reports[pid] = json.loads(rest[0])
                self._changed.notify_all()

    def wait(self, predicate: Any, timeout: float = 30.0) -> Any:
        with self._changed:
            result = self._changed.wait_for(predicate, timeout)
        assert result, "the workers stopped reporting: " + json.dumps(
            {pid: self.phases.get(pid, "")[-20:] for pid in self.live})
        return result

    def spawn(self) -> int:
        assert self.process.stdin is not None
        before = set(self.live) | self.exited
        self.process.stdin.write(b"spawn\n")
        self.process.stdin.flush()
        new: set[int] = self.wait(lambda: set(self.live) - before)
        return new.pop()

    def kill(self, pid: int) -> str:
        """SIGKILL ``pid``; the phases it reached, in order."""
        os.kill(pid, signal.SIGKILL)
        self.wait(lambda: pid in self.exited)
        with self._changed:
            return self.phases.get(pid, "")

    def next_durable(self, after: int) -> int:
        """The next worker whose new tokens reach the pending file, after ``after`` did."""
        self.wait(lambda: len(self.durable) > after and self.durable[-1] in self.live)
        with self._changed:
            return self.durable[-1]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        self._err.close()


UNPROTECTABLE = frozenset("PR")
"""Last phases at which a kill may lose the new refresh token: the token POST is in flight,
or its answer is only in the process's memory. Exact has rotated already and rejects the
old token, so no client can survive these; every other instant must be survived."""


def kill_workers_at_random(sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets,
                           *, kills: int, seed_rng: int) -> dict[str, Any]:
    """8 workers share one store under ``kills`` SIGKILLs; the summary of what they hit.

    Odd kills are aimed: right after a worker's new tokens reached the pending file, within
    a random 0-1 ms (before, during or after the rename). Even kills hit a random worker at
    a random instant. After each kill, under the store's lock, the store must hold Exact's
    live refresh token; a kill in an unprotectable phase that lost it is counted and the
    user's re-login is simulated.
    """
    rng = random.Random(seed_rng)
    store_path = tmp_path / "tokens.json"
    secrets.stores.append(store_path)
    seed = sandbox.mint_refresh_token()
    secrets.values.add(seed)
    sandbox.clear_calls()
    stop = tmp_path / "stop"
    workers = Workers(sandbox, store_path, seed, stop, out_dir / "workers.stderr")
    store = FileTokenStore(store_path, lock_timeout=30)
    landed: dict[str, int] = {}
    unprotectable_lockouts = 0
    try:
        for _ in range(8):
            workers.spawn()
        for kill in range(kills):
            if kill % 2:
                victim = workers.next_durable(len(workers.durable))
                time.sleep(rng.uniform(0, 0.001))
            else:
                time.sleep(rng.uniform(0, 0.05))
                victim = rng.choice(list(workers.live))
            phases = workers.kill(victim)
            last = phases[-1:] or "-"
            landed[last] = landed.get(last, 0) + 1
            if last == "P":
                time.sleep(0.05)  # let the sandbox finish the request the victim sent
            with store.lock():
                tokens = store.read()
                live = tokens is not None and is_live(sandbox, tokens.refresh_token.reveal())
                if not live:
                    assert last in UNPROTECTABLE, (
                        f"kill {kill} at phases ...{phases[-12:]} lost the live refresh token")
                    unprotectable_lockouts += 1
                    fresh = sandbox.mint_refresh_token()  # the user logs in again
                    secrets.values.add(fresh)
                    store.write(TokenSet(refresh_token=Secret(fresh), client_id=sandbox.client_id,
                                         origin="login"))
            secrets.collect()
            workers.spawn()
        stop.touch()
        workers.wait(lambda: not workers.live, timeout=60)
    finally:
        stop.touch()
        workers.close()
    secrets.collect()
    summary = {
        "kills": kills, "last_phase_at_kill": landed,
        "unprotectable_lockouts": unprotectable_lockouts,
        "token_answers": sandbox.calls()["by_endpoint_status"].get("POST oauth2/token", {}),
        "reports": list(workers.reports.values()),
    }
    (out_dir / "kills.json").write_text(json.dumps(summary, indent=1))
    assert landed.get("p", 0) >= kills // 10, f"too few kills before a rename: {landed}"
    assert sum(r["failures"] for r in workers.reports.values()) == 0, summary
    if unprotectable_lockouts == 0:
        assert set(summary["token_answers"]) == {"200"}, f"Old refresh token used: {summary}"
    final = store.read()
    assert final is not None
    sandbox.advance_clock(600)
    answer = sandbox.token_request(grant_type="refresh_token",
                                   refresh_token=final.refresh_token.reveal())
    secrets.values.update(answer.json().get(k, "") for k in ("access_token", "refresh_token"))
    assert answer.status_code == 200, "every later refresh succeeds"
    return summary


@pytest.mark.parametrize("fast_sandbox", [3000.0], indirect=True)
def test_eight_workers_under_200_random_kills_are_never_locked_out(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets
) -> None:
    kill_workers_at_random(fast_sandbox, tmp_path, out_dir, secrets, kills=200, seed_rng=13)


@pytest.mark.slow
@pytest.mark.parametrize("fast_sandbox", [3000.0], indirect=True)
def test_eight_workers_under_250_more_random_kills_are_never_locked_out(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets
) -> None:
    kill_workers_at_random(fast_sandbox, tmp_path, out_dir, secrets, kills=250, seed_rng=14)
