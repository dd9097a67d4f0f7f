"""Randomized consistency: whatever Exact does between and during runs, and wherever a run is
stopped, the warehouse ends equal to Exact after the next complete run.

Each round makes random changes in the sandbox through Exact's API (creates, updates and
deletes of companies, contacts, items, projects and invoices; invoice lines added, changed and
removed; invoices processed and paid), often to rows the warehouse has just received. It then
runs the tap zero to two times with more changes made *while* it runs, most of those runs
stopped at a random message as a SIGKILL would stop them (first syncs included), with 429s,
5xx and connection resets injected; then one complete run. The warehouse image (every
delivered record applied by key, ``_sdc_deleted_at`` removing it; a stopped run's records
after its last STATE delivered or not, at random) must then equal every stream read in full
from the sandbox: no missing, stale or ghost row. Variants: default and batch mode, unfiltered
and filtered (Modified-bookmarked) streams, custom streams on a sync and a plain endpoint,
one or two divisions. Page sizes are lowered so that a few dozen rows make several pages.

The tap runs in this process (hundreds of runs); the last test kills the real executable.
Reproduce a failure with the seed it prints:
``pytest tests/reliability/test_consistency.py --consistency-seed N --consistency-rounds R``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox

from .conftest import TAP, connector_settings, discover
from .consistency import (
    CUSTOM_STREAMS,
    FILTERS,
    Exact,
    Stopped,
    Warehouse,
    delivered,
    diff,
    inject_faults,
    quiet_hours,
    run_tap,
    truth,
)
from .scaled_clock import SandboxClock

SEED = 1207
ROUNDS = 52  # per variant: 4 variants, 208 rounds in every CI run
SESSION = 8  # rounds from one empty warehouse and state (then a fresh start)
SCALE = 60.0  # a sandbox minute is a real second: back-off and 429 waits stay short
SIZE = {"accounts": 25, "contacts": 40, "items": 15, "invoices": 20, "projects": 4,
        "deleted": 3}
"""Rows per division: with page sizes of 7 to 40 rows, several pages per stream."""
MODEL_STREAMS = ("generic_contact", "generic_company", "generic_user", "generic_workspace",
                 "accounting_invoice", "accounting_invoice_item",
                 "accounting_invoice_line_item")
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "batch": {"batch": True},
    "filtered": {"filters": FILTERS},
    "filtered-batch": {"filters": FILTERS, "batch": True},
}


@pytest.fixture(scope="module")
def scaled_sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=42, scale=SCALE) as sandbox:
        yield sandbox


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    value = request.config.getoption("--consistency-seed")
    return SEED if value is None else int(value)


@pytest.fixture
def rounds(request: pytest.FixtureRequest) -> int:
    value = request.config.getoption("--consistency-rounds")
    return ROUNDS if value is None else int(value)


class Session:
    """From an empty warehouse and no state: the config, catalog, Exact's changes, the image."""

    def __init__(self, sandbox: Sandbox, rng: random.Random, where: Path, *,
                 variant: dict[str, Any], divisions: list[int], clock: SandboxClock | None,
                 pages: dict[str, int]) -> None:
        self.sandbox, self.rng, self.pages = sandbox, rng, pages
        sandbox.reset(seed=rng.randint(1, 10**6), size=SIZE)
        sandbox.set_limits(minutely=10**6, daily=10**7, token_daily=10**6, **pages)
        if clock is None:
            quiet_hours(sandbox)
        self.clock = clock or SandboxClock.of(sandbox)
        where.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Any] = {}
        if variant.get("filters"):
            extra["filters"] = variant["filters"]
        if variant.get("batch"):
            extra["batch_config"] = {"encoding": {"format": "jsonl", "compression": "gzip"},
                                     "storage": {"root": f"file://{where}"},
                                     "batch_size": rng.choice([5, 40, 1000])}
        self.config = connector_settings(sandbox, where, max_retries=4, timeout=10,
                                         divisions=divisions, custom_streams=CUSTOM_STREAMS,
                                         **extra)
        selected = {str(s["name"]) for s in CUSTOM_STREAMS} | set(MODEL_STREAMS)
        self.catalog = discover(self.config, selected)
        self.schemas = {s["tap_stream_id"]: set(s["schema"]["properties"])
                        for s in self.catalog["streams"] if s["tap_stream_id"] in selected}
        self.exact = Exact(sandbox, rng, divisions)
        self.warehouse = Warehouse()
        self.state: dict[str, Any] | None = None
        self.length = 400  # messages of the last complete run: where a stop may fall

    def change(self, most: int) -> None:
        """Random changes, and changes to rows the warehouse holds."""
        self.exact.change(self.rng.randint(0, most))
        self.exact.change_delivered(self.warehouse, self.rng.randint(0, most))

    def deliver(self, messages: list[dict[str, Any]], *, stopped: bool) -> None:
        """Apply a run's messages as a target would; a stopped run resumes from its state."""
        applied, state = delivered(messages, not stopped or self.rng.random() < 0.5)
        for message in applied:
            self.warehouse.apply_message(message)
        self.state = state if state is not None else self.state
        if not stopped:
            self.length = max(len(messages), 2)

    def differences(self) -> list[str]:
        """Warehouse against every stream read in full (on Exact's page sizes: fewer calls)."""
        self.sandbox.control.post("/limits", json={"page_size": None, "plain_page_size": None})
        try:
            now = truth(self.config, self.clock, list(self.schemas), self.schemas)
        finally:
            self.sandbox.set_limits(**self.pages)
        return diff(self.warehouse, now)


def play(sandbox: Sandbox, variant: str, seed: int, rounds: int, where: Path) -> int:
    """``rounds`` rounds of one variant (fails at the first difference); runs stopped."""
    stopped = 0
    for first in range(0, rounds, SESSION):
        rng = random.Random(f"{seed}:{variant}:{first}")
        session = Session(
            sandbox, rng, where / str(first), variant=VARIANTS[variant], clock=None,
            divisions=rng.choice([[100001], [100002], [100001], [100001, 100002]]),
            pages={"page_size": rng.choice([7, 15, 40]),
                   "plain_page_size": rng.choice([6, 60, 60])})
        for number in range(first, min(first + SESSION, rounds)):
            where_ = f"seed {seed}, variant {variant}, round {number}"
            for _ in range(rng.choice([0, 1, 1]) + (number == first)):
                session.change(3)
                inject_faults(sandbox, rng)
                stop_at = rng.randint(1, session.length) if rng.random() < 0.75 else None
                during = {rng.randint(1, session.length): partial(session.change, 2)
                          for _ in range(rng.randint(0, 2))}
                run = run_tap(session.config, session.catalog, session.state, session.clock,
                              stop_at=stop_at, during=during)
                sandbox.clear_faults()
                assert run.error is None or isinstance(run.error, Stopped), (
                    f"{where_}: a run failed: {run.error!r}")
                stopped += isinstance(run.error, Stopped)
                session.deliver(run.messages, stopped=isinstance(run.error, Stopped))
            session.change(3)
            inject_faults(sandbox, rng)
            final = run_tap(session.config, session.catalog, session.state, session.clock)
            sandbox.clear_faults()
            assert final.error is None, f"{where_}: the complete run failed: {final.error!r}"
            session.deliver(final.messages, stopped=False)
            problems = session.differences()
            assert not problems, (
                f"{where_}: {len(problems)} rows differ (warehouse vs Exact):\n"
                + "\n".join(problems[:40]) + "\nReproduce: pytest tests/reliability/"
                f"test_consistency.py -k {variant} --consistency-seed {seed} "
                f"--consistency-rounds {rounds}")
    return stopped


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_random_changes_and_stopped_runs_leave_the_warehouse_equal_to_exact(
    variant: str, scaled_sandbox: Sandbox, seed: int, rounds: int, tmp_path: Path
) -> None:
    stopped = play(scaled_sandbox, variant, seed, rounds, tmp_path)
    assert stopped >= rounds // 5, "runs are stopped midway in many rounds"


# -- the real executable, SIGKILLed --------------------------------------------------------

KILL_ROUNDS = 6


def tap_killed(command: list[str], stop_at: int | None) -> list[dict[str, Any]]:
    """The real tap executable, SIGKILLed after ``stop_at`` whole lines (None: to its end)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout is not None
    messages: list[dict[str, Any]] = []
    try:
        for line in proc.stdout:
            if not line.endswith("\n"):
                break  # cut off by the kill: no target saw it
            messages.append(json.loads(line))
            if stop_at is not None and len(messages) >= stop_at:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        code = proc.wait(timeout=120)
    assert stop_at is not None or code == 0, f"the complete run exited with {code}"
    return messages


@pytest.mark.slow
def test_real_tap_killed_at_random_points_leaves_the_warehouse_equal_to_exact(
    seed: int, tmp_path: Path
) -> None:
    rng = random.Random(f"{seed}:kill-9")
    real_time = SandboxClock(time.time(), 1.0, time.monotonic())  # the executables' clock
    with Sandbox(seed=42) as sandbox:
        for number in range(KILL_ROUNDS):
            where = tmp_path / str(number)
            if number % (KILL_ROUNDS // 2) == 0:  # default mode, then batch mode; each from
                variant = {"batch": True} if number else {}  # a killed first sync on
                session = Session(sandbox, rng, where, variant=variant, clock=real_time,
                                  divisions=[100001, 100002], pages={"page_size": 7})
            where.mkdir(exist_ok=True)
            paths = {name: where / f"{name}.json" for name in ("config", "catalog")}
            paths["config"].write_text(json.dumps(session.config))
            paths["catalog"].write_text(json.dumps(session.catalog))
            session.change(4)
            for attempt, stop_at in enumerate([rng.randint(1, session.length), None]):
                command = [TAP, "--config", str(paths["config"]), "--catalog",
                           str(paths["catalog"])]
                if session.state is not None:
                    state = where / f"state-{attempt}.json"
                    state.write_text(json.dumps(session.state))
                    command += ["--state", str(state)]
                session.deliver(tap_killed(command, stop_at), stopped=stop_at is not None)
                if stop_at is not None:
                    session.change(3)
            problems = session.differences()
            assert not problems, (f"seed {seed}, kill round {number}: {len(problems)} rows "
                                  "differ (warehouse vs Exact):\n" + "\n".join(problems[:40]))
