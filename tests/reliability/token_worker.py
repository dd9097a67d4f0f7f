"""Processes of the token tests: call the sandbox's API in a loop through a TokenBroker.

``python token_worker.py run BASE_URL STORE SEED ORIGIN_EPOCH ORIGIN_MONOTONIC SCALE SECONDS``
    one worker; prints one JSON line: calls, refreshes, failures (which must be none).

``python token_worker.py die-at POINT BASE_URL STORE SEED ORIGIN_EPOCH ORIGIN_MONOTONIC SCALE``
    one refresh, with a SIGKILL to itself at POINT of writing the new tokens: ``pending``
    (the pending file written and fsync'd, not yet renamed), ``fsync`` (inside the pending
    file's fsync), ``renamed`` (renamed, the directory not yet fsync'd).

``python token_worker.py spawner BASE_URL STORE SEED ORIGIN_EPOCH ORIGIN_MONOTONIC SCALE STOP``
    imports everything once, then forks a worker for every ``spawn`` line on stdin, so a test
    can SIGKILL hundreds of workers without paying an interpreter start for each
    (``spawn X``: a worker that SIGKILLs itself as soon as it reaches phase X). Every
    line on stdout is an event, written with one ``os.write`` (atomic on a pipe):
    ``spawned PID`` · ``phase PID X`` · ``sent PID FINGERPRINT`` (the refresh token a
    token POST is about to send, as ``auth.fingerprint``, right before its ``P``) ·
    ``exited PID STATUS`` · ``report PID {json}``.
    Phases: ``P`` token POST sent, ``R`` its answer received, ``w`` store write started,
    ``p`` the pending file is written and fsync'd (the rename comes next), ``W`` store write
    done, ``X`` Exact refused the stored refresh token (a lockout). Only these forked
    workers trace ``os.replace``.
    Workers stop when the file STOP exists.

The clock is the sandbox's own formula (its origin, scale and the system-wide monotonic
clock), so token ages agree exactly with the sandbox.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from exact_online_core.auth import FileTokenStore, TokenBroker, fingerprint
from exact_online_core.errors import ExactError, LoginRequiredError
from exact_online_core.secrets import Secret
from exact_online_core.token_store import TokenSet

R_PAUSE = 0.05
"""Real seconds a traced worker holds a token answer in memory before storing it (a slow
machine's pause), so a kill aimed at ``R`` lands before the write."""


def make_broker(base_url: str, store: str, seed: str, clock: Callable[[], float],
                emit: Callable[[str], None] | None = None,
                sent: Callable[[str], None] | None = None) -> TokenBroker:
    token_store = FileTokenStore(store)
    broker = TokenBroker(store=token_store, token_url=f"{base_url}/api/oauth2/token",
                         client_id="sandbox-client", client_secret=Secret("sandbox-secret"),
                         initial_refresh_token=Secret(seed), clock=clock)
    if emit is not None:
        post, write, replace = broker._post_token, token_store.write, os.replace

        def traced_post(form: dict[str, str], *, grant: str) -> dict[str, Any]:
            if sent is not None and "refresh_token" in form:
                sent(fingerprint(Secret(form["refresh_token"])))
            emit("P")
            answer = post(form, grant=grant)
            emit("R")
            time.sleep(R_PAUSE)
            return answer

        def traced_write(tokens: TokenSet) -> None:
            emit("w")
            write(tokens)
            emit("W")

        def traced_replace(src: Any, dst: Any) -> None:
            if str(src) == str(token_store.pending_path):
                emit("p")
            replace(src, dst)

        os.replace = traced_replace  # type: ignore[assignment]

        broker._post_token = traced_post  # type: ignore[method-assign]
        token_store.write = traced_write  # type: ignore[method-assign]
    return broker


def work(broker: TokenBroker, base_url: str, keep_going: Callable[[], bool],
         emit: Callable[[str], None] | None = None) -> dict[str, Any]:
    session = requests.Session()
    calls = failures = lockouts = expired_in_flight = 0
    problems: list[str] = []
    while keep_going():
        try:
            token = broker.access_token()
            for _ in range(2):
                response = session.get(f"{base_url}/api/v1/current/Me", timeout=30, headers={
                    "Authorization": f"Bearer {token}", "Accept": "application/json"})
                calls += 1
                if response.status_code != 401:
                    break
                token = broker.after_unauthorized(token)
            if response.status_code == 401:
                # Both tokens outlived their 600 s on the way: at 3000x a request slower
                # than 10 ms real does. Not a lockout: the next access_token() refreshes.
                expired_in_flight += 1
            elif response.status_code != 200:
                failures += 1
                problems.append(f"{response.status_code} {response.text[:80]}")
        except LoginRequiredError:
            lockouts += 1
            if emit is not None:
                emit("X")
            broker.forget()
            time.sleep(0.05)
        except ExactError as exc:
            failures += 1
            problems.append(str(exc)[:160])
            time.sleep(0.05)
        time.sleep(0.002)
    return {"calls": calls, "refreshes": broker.refreshes, "failures": failures,
            "lockouts": lockouts, "expired_in_flight": expired_in_flight,
            "problems": problems[:3]}


def sandbox_clock(origin_epoch: float, origin_monotonic: float,
                  scale: float) -> Callable[[], float]:
    def clock() -> float:
        return origin_epoch + (time.monotonic() - origin_monotonic) * scale
    return clock


def run(argv: list[str]) -> int:
    base_url, store, seed = argv[0], argv[1], argv[2]
    clock = sandbox_clock(*(float(v) for v in argv[3:6]))
    deadline = time.monotonic() + float(argv[6])
    broker = make_broker(base_url, store, seed, clock)
    report = work(broker, base_url, lambda: time.monotonic() < deadline)
    print(json.dumps(report))
    return 0


def die_at(argv: list[str]) -> int:
    point, base_url, store, seed = argv[0], argv[1], argv[2], argv[3]
    clock = sandbox_clock(*(float(v) for v in argv[4:7]))
    broker = make_broker(base_url, store, seed, clock)
    broker.access_token()  # seeds the store and makes the first refresh, undisturbed
    broker.forget()
    import exact_online_core.token_store as token_store

    def kill() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    real_replace, real_fsync = os.replace, os.fsync
    real_dir_fsync = token_store._fsync_directory

    def replace(src: Any, dst: Any) -> None:
        if point == "pending":
            kill()
        real_replace(src, dst)

    def fsync(fd: int) -> None:
        if point == "fsync":
            kill()
        real_fsync(fd)

    def dir_fsync(directory: Any) -> None:
        if point == "renamed":
            kill()
        real_dir_fsync(directory)

    token_store.os.replace = replace  # type: ignore[assignment]
    token_store.os.fsync = fsync  # type: ignore[assignment]
    token_store._fsync_directory = dir_fsync
    while True:  # refresh as soon as Exact allows it; the kill ends the process
        broker.forget()
        broker.access_token()
        time.sleep(0.01)


def spawner(argv: list[str]) -> int:
    base_url, store, seed = argv[0], argv[1], argv[2]
    clock = sandbox_clock(*(float(v) for v in argv[3:6]))
    stop = argv[6]
    children: set[int] = set()

    def say(line: str) -> None:
        os.write(1, (line + "\n").encode())

    def reap() -> None:
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            children.discard(pid)
            say(f"exited {pid} {status}")

    commands = b""
    while True:
        ready, _, _ = select.select([0], [], [], 0.005)
        reap()
        if not ready:
            continue
        chunk = os.read(0, 4096)
        if not chunk:
            break
        commands += chunk
        *lines, commands = commands.split(b"\n")
        for line in lines:
            words = line.decode().split()
            if words[:1] != ["spawn"]:
                continue
            die_at = words[1] if len(words) > 1 else None
            pid = os.fork()
            if pid == 0:
                me = os.getpid()

                def emit(phase: str, me: int = me, die_at: str | None = die_at) -> None:
                    say(f"phase {me} {phase}")
                    if phase == die_at:
                        os.kill(me, signal.SIGKILL)

                def sent(tag: str, me: int = me) -> None:
                    say(f"sent {me} {tag}")

                broker = make_broker(base_url, store, seed, clock, emit, sent)
                report = work(broker, base_url, lambda: not os.path.exists(stop), emit)
                say(f"report {me} {json.dumps(report)}")
                os._exit(0)
            children.add(pid)
            say(f"spawned {pid}")
    while children:
        pid, status = os.waitpid(-1, 0)
        children.discard(pid)
        say(f"exited {pid} {status}")
    return 0


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    modes = {"run": run, "spawner": spawner, "die-at": die_at}
    sys.exit(modes[mode](rest))
