"""Token rotation under concurrency and crashes, on the sandbox's scaled clock."""

from __future__ import annotations

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

from exact_online_core.auth import FileTokenStore, fingerprint
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


def token_state(sandbox: Sandbox, refresh_token: str) -> str:
    """``unused``, ``used`` (still accepted: its successors are unused), ``old`` or ``unknown``."""
    assert sandbox.app is not None
    return sandbox.app.oauth.refresh_token_state(refresh_token)


def is_live(sandbox: Sandbox, refresh_token: str) -> bool:
    """Exact accepts this refresh token now: the newest one, or a used one whose successors
    nobody used yet (a refresh whose answer was lost)."""
    return token_state(sandbox, refresh_token) in ("unused", "used")


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
def test_process_killed_while_its_refresh_is_in_flight_is_followed_without_a_login(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets
) -> None:
    sandbox = fast_sandbox
    store_path = tmp_path / "tokens.json"
    secrets.stores.append(store_path)
    seed = sandbox.mint_refresh_token()
    secrets.values.add(seed)
    sandbox.clear_calls()
    sandbox.inject_fault("*/oauth2/token", method="POST", kind="delay", seconds=2)
    worker = start_worker(sandbox, store_path, seed, 30.0, out_dir / "worker.stderr")
    deadline = time.monotonic() + 20
    while sandbox.control.get("/faults")["faults"][0]["remaining"] > 0:
        assert time.monotonic() < deadline, "the worker never reached the token endpoint"
        time.sleep(0.02)
    time.sleep(0.2)  # inside the refresh: the lock is held, the answer not yet in
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    while sandbox.calls()["by_endpoint_status"].get("POST oauth2/token") is None:
        assert time.monotonic() < deadline, "the sandbox never answered the dead worker"
        time.sleep(0.05)  # Exact answers (and rotates) although nobody reads the answer

    store = FileTokenStore(store_path, lock_timeout=2)
    with store.lock():  # the dead process's lock is released
        tokens = store.read()
    assert tokens is not None
    assert tokens.refresh_token.reveal() == seed, "the store still holds the token it sent"
    assert not store.pending_path.exists()
    assert token_state(sandbox, seed) == "used"

    survivor = start_worker(sandbox, store_path, seed, 1.0, out_dir / "survivor.stderr")
    stdout, _ = survivor.communicate(timeout=60)
    secrets.collect()
    report = json.loads(stdout)
    assert report["lockouts"] == 0 and report["failures"] == 0 and report["calls"] > 0, report
    assert sandbox.calls()["by_endpoint_status"]["POST oauth2/token"] == {"200": 2}
    assert token_state(sandbox, seed) == "old", "the survivor's tokens superseded it"


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
    assert token_state(sandbox, tokens.refresh_token.reveal()) == "unused", (
        "the new refresh token was lost")
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
        self.sent: dict[int, str] = {}
        """Per pid, the fingerprint of the refresh token its last token POST sent."""
        self.reached: dict[str, list[int]] = {phase: [] for phase in AIMED}
        """Per aimed phase, the pids in the order they reached it."""
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
                    if rest[0] in self.reached:
                        self.reached[rest[0]].append(pid)
                elif kind == "sent":
                    self.sent[pid] = rest[0]
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

    def spawn(self, die_at: str = "") -> int:
        """A new worker (``die_at``: one that SIGKILLs itself on reaching that phase)."""
        assert self.process.stdin is not None
        before = set(self.live) | self.exited
        self.process.stdin.write(f"spawn {die_at}\n".encode())
        self.process.stdin.flush()
        new: set[int] = self.wait(lambda: set(self.live) - before)
        return new.pop()

    def kill(self, pid: int) -> str:
        """SIGKILL ``pid``; the phases it reached, in order."""
        os.kill(pid, signal.SIGKILL)
        self.wait(lambda: pid in self.exited)
        with self._changed:
            return self.phases.get(pid, "")

    def next_at(self, phase: str) -> int:
        """The next worker to reach ``phase`` from now on (still alive when it does)."""
        seen = self.reached[phase]
        with self._changed:
            after = len(seen)
        self.wait(lambda: len(seen) > after and seen[-1] in self.live)
        with self._changed:
            return seen[-1]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        self._err.close()


AIMED = ("P", "R", "p")
"""Phases kills are aimed at, one per refresh cycle in turn: the token POST sent, its answer
received (held in memory for ``token_worker.R_PAUSE``, not yet written), the new tokens
durable in the pending file (the rename comes next)."""

RANDOM_PER_CYCLE = 9
"""Kills of a random worker at a random instant after the aimed one, while the stored token
ages towards its next refresh (570 s of the sandbox's clock); the retry after a kill in
flight comes during them."""

NOT_DURABLE = frozenset("PRw")
"""Last phases at which the new tokens die with the process: the token POST is in flight,
its answer is only in the process's memory, or the pending file is not complete yet (the
next process drops it). The store still holds the token that was sent, which Exact keeps
accepting while nobody used its successors (exact-api.md §1.4)."""


class KillJudge:
    """After each kill, under the store's lock: the store holds a refresh token Exact
    accepts, so the next worker continues without a login. Exact's answer is the judge: the
    token is ``unused`` (the newest), or ``used`` and still accepted because its successors
    died unused, which only a refresh whose answer was lost leaves. Such a token must be one
    that a killed worker sent in a refresh it never stored, whichever worker the latest kill
    hit (the store outlives many kills until a worker refreshes again)."""

    def __init__(self, sandbox: Sandbox, store: FileTokenStore) -> None:
        self.sandbox = sandbox
        self.store = store
        self.lost: set[str] = set()
        """Fingerprints of refresh tokens sent by workers killed before storing the answer."""

    def after_kill(self, workers: Workers, victim: int, phases: str, kill: int) -> str:
        """Exact's state of the store's refresh token after ``victim`` died at ``phases``."""
        last = phases[-1:] or "-"
        if last in NOT_DURABLE and victim in workers.sent:
            self.lost.add(workers.sent[victim])
        if last == "P":
            time.sleep(0.05)  # let the sandbox finish the request the victim sent
        with self.store.lock():
            tokens = self.store.read()
            assert tokens is not None
            state = token_state(self.sandbox, tokens.refresh_token.reveal())
            assert state in ("unused", "used"), (
                f"kill {kill} at phases ...{phases[-12:]} left a refresh token Exact "
                f"refuses ({state})")
            if state == "used":
                assert fingerprint(tokens.refresh_token) in self.lost, (
                    f"kill {kill} at ...{phases[-12:]}: stale store (a refresh token Exact "
                    "saw used, which no killed worker sent without storing the answer)")
        return state


def kill_scene(sandbox: Sandbox, tmp_path: Path, stop: Path, stderr: Path,
               secrets: Secrets) -> tuple[Workers, FileTokenStore, KillJudge]:
    """What every kill test starts from: a store seeded by one fresh refresh token (both
    watched for leaks), the sandbox's call counts cleared, the workers, and the judge."""
    store_path = tmp_path / "tokens.json"
    secrets.stores.append(store_path)
    seed = sandbox.mint_refresh_token()
    secrets.values.add(seed)
    sandbox.clear_calls()
    workers = Workers(sandbox, store_path, seed, stop, stderr)
    store = FileTokenStore(store_path, lock_timeout=30)
    return workers, store, KillJudge(sandbox, store)


def kill_workers_at_random(sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets,
                           *, kills: int, seed_rng: int) -> dict[str, Any]:
    """8 workers share one store under ``kills`` SIGKILLs; the summary of what they hit.

    Kills come in cycles of one refresh each: first a kill aimed at one of ``AIMED``, in
    turn, within a random 0-1 ms after a worker reached it (``P``: before, while or just
    after Exact handles the request; ``R``: its answer in memory only; ``p``: before, during
    or after the rename), then ``RANDOM_PER_CYCLE`` kills of a random worker at a random
    instant while the new token ages. After each kill, :class:`KillJudge`
    checks the store against the sandbox: it holds the newest refresh token, or one that a
    killed worker sent and whose successors died unused (possibly left by an earlier kill:
    the store is judged, not the latest victim). No login is ever simulated, no kill is
    excused: one refresh token refused, to a worker or at the end, fails the test.
    """
    rng = random.Random(seed_rng)
    stop = tmp_path / "stop"
    workers, store, judge = kill_scene(sandbox, tmp_path, stop, out_dir / "workers.stderr",
                                       secrets)
    landed: dict[str, int] = {}
    aimed: dict[str, dict[str, int]] = {}
    sent_token_kept = 0
    try:
        for _ in range(8):
            workers.spawn()
        for kill in range(kills):
            cycle, step = divmod(kill, 1 + RANDOM_PER_CYCLE)
            if step == 0:
                phase = AIMED[cycle % len(AIMED)]
                victim = workers.next_at(phase)
                time.sleep(rng.uniform(0, 0.001))
            else:
                phase = "random"
                time.sleep(rng.uniform(0, 0.05))
                victim = rng.choice(list(workers.live))
            phases = workers.kill(victim)
            last = phases[-1:] or "-"
            landed[last] = landed.get(last, 0) + 1
            aimed.setdefault(phase, {})[last] = aimed.get(phase, {}).get(last, 0) + 1
            if judge.after_kill(workers, victim, phases, kill) == "used":
                sent_token_kept += 1
            secrets.collect()
            workers.spawn()
        stop.touch()
        workers.wait(lambda: not workers.live, timeout=60)
    finally:
        stop.touch()
        workers.close()
    secrets.collect()
    summary = {
        "kills": kills, "last_phase_at_kill": landed, "aimed_at_landed_at": aimed,
        "sent_token_kept": sent_token_kept,
        "token_answers": sandbox.calls()["by_endpoint_status"].get("POST oauth2/token", {}),
        "reports": list(workers.reports.values()),
    }
    (out_dir / "kills.json").write_text(json.dumps(summary, indent=1))
    each = kills // (1 + RANDOM_PER_CYCLE) // len(AIMED)
    assert landed.get("p", 0) >= each // 2, f"too few kills before a rename: {landed}"
    assert landed.get("P", 0) >= each // 2, f"too few kills in flight: {landed}"
    assert sum(r["failures"] for r in workers.reports.values()) == 0, summary
    assert sum(r["lockouts"] for r in workers.reports.values()) == 0, summary
    lockouts = sum(trace.count("X") for trace in workers.phases.values())
    assert lockouts == 0, f"{lockouts} refreshes refused, killed workers included: {summary}"
    assert sent_token_kept >= 1, f"no kill landed while a refresh was in flight: {landed}"
    answers = dict(summary["token_answers"])
    cut = answers.pop("reset", 0)  # a POST whose sender died while sending it: never answered
    assert set(answers) == {"200"}, f"a refresh token refused: {summary}"
    assert cut <= landed.get("P", 0), f"token requests cut short by no kill: {summary}"
    final = store.read()
    assert final is not None
    sandbox.advance_clock(600)
    answer = sandbox.token_request(grant_type="refresh_token",
                                   refresh_token=final.refresh_token.reveal())
    secrets.values.update(answer.json().get(k, "") for k in ("access_token", "refresh_token"))
    assert answer.status_code == 200, "every later refresh succeeds"
    return summary


KILL_CLOCK = 300.0
"""The kill tests' sandbox clock. Exact keeps a used refresh token 10 minutes (§1.4): the
time a killed worker's successors have to pick up the token it sent. At 300x that is 2 s of
real time, above a loaded machine's wait for the victim's exit and the store's lock (at
3000x, 0.2 s, it was not: lockouts no real Exact would give). Both the sandbox and the
workers keep this one scale from start to end, so their token ages agree. A refresh can come
only 570 s after the last one (1.9 s here): each cycle of kills aims at one refresh and
kills random workers while the next one is not due."""


@pytest.mark.parametrize("fast_sandbox", [KILL_CLOCK], indirect=True)
def test_a_kill_after_another_worker_lost_its_refresh_answer_leaves_a_store_without_login(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets
) -> None:
    """Scripted: A refreshes and is stopped; B dies as its refresh's answer arrives (the
    store keeps the token B sent, which Exact saw used); A is killed before anyone refreshed
    again, its last phase a completed write. The store is judged after each kill (the
    random-kill test's judge), and C continues from it without a login."""
    sandbox = fast_sandbox
    stop = tmp_path / "stop"
    workers, store, judge = kill_scene(sandbox, tmp_path, stop, out_dir / "scripted.stderr",
                                       secrets)
    a = 0
    try:
        a = workers.spawn()
        workers.wait(lambda: workers.phases.get(a, "").endswith("PRwpW"))
        with store.lock():  # A is not inside the lock when it stops
            os.kill(a, signal.SIGSTOP)
        b = workers.spawn(die_at="R")
        workers.wait(lambda: b in workers.exited)
        phases_b = workers.phases[b]
        assert phases_b.endswith("PR")
        assert judge.after_kill(workers, b, phases_b, 0) == "used"
        phases_a = workers.kill(a)
        assert phases_a.endswith("PRwpW")
        assert judge.after_kill(workers, a, phases_a, 1) == "used", "nobody refreshed since"
        c = workers.spawn()
        workers.wait(lambda: "W" in workers.phases.get(c, ""))
        stop.touch()
        workers.wait(lambda: not workers.live)
    finally:
        stop.touch()
        if a and a not in workers.exited:
            os.kill(a, signal.SIGKILL)
        workers.close()
    secrets.collect()
    assert "X" not in workers.phases[c]
    assert workers.reports[c]["lockouts"] == 0 and workers.reports[c]["failures"] == 0
    assert sandbox.calls()["by_endpoint_status"]["POST oauth2/token"] == {"200": 3}
    final = store.read()
    assert final is not None
    assert token_state(sandbox, final.refresh_token.reveal()) == "unused"


@pytest.mark.parametrize("fast_sandbox", [KILL_CLOCK], indirect=True)
def test_eight_workers_under_207_random_kills_and_23_aimed_ones_are_never_locked_out(
    fast_sandbox: Sandbox, tmp_path: Path, out_dir: Path, secrets: Secrets
) -> None:
    # 23 cycles of one aimed kill and nine random ones: over the 200 random kills of #13.
    kill_workers_at_random(fast_sandbox, tmp_path, out_dir, secrets, kills=230, seed_rng=13)
