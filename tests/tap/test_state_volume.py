"""STATE output grows with what the tap read, not with divisions x pages (checkpoints.py).

The real tap executable against the sandbox on 127.0.0.1, serving many divisions of one
login, each with 12 companies and 12 contacts read in sync pages of 6 rows (two pages per
stream per division). A STATE message is the whole state (a bookmark per stream per
division), so one after every page made STATE bytes grow with divisions x pages.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from integration.helpers import TAP, exact_keys, selected_catalog

from exact_online_sandbox import seed as seeding
from exact_online_sandbox.server import Sandbox

DIVISIONS = 36
STREAMS = {"generic_company": "crm/Accounts", "generic_contact": "crm/Contacts"}
ROWS = 12  # per stream and division: two sync pages of PAGE rows
PAGE = 6
SIZE = {"accounts": ROWS, "contacts": ROWS, "items": 0, "invoices": 0, "projects": 0,
        "deleted": 0, "generic": 0, "sales_orders": 0, "quotations": 0,
        "purchase_entries": 0, "purchase_invoices": 0, "purchase_orders": 0}


def division_codes(count: int) -> tuple[int, ...]:
    """The sandbox's reachable divisions when it serves ``count``: 100001, 100002, 100004..."""
    return seeding.division_codes(count)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A sandbox whose login reaches DIVISIONS divisions, each with SIZE rows."""
    with Sandbox(seed=16, size=SIZE) as sb:
        sb.reset(seed=16, size=SIZE, divisions=DIVISIONS)
        sb.set_limits(page_size=PAGE, minutely=10**6, daily=10**7)
        yield sb


@pytest.fixture(scope="module")
def setup(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("state-volume")
    config = {"base_url": sandbox.base_url, "client_id": sandbox.client_id,
              "client_secret": sandbox.client_secret,
              "refresh_token": sandbox.mint_refresh_token(),
              "token_store": str(work / "tokens.json"), "divisions": [100001]}
    (work / "catalog.json").write_text(json.dumps(selected_catalog(config, set(STREAMS))))
    (work / "config.json").write_text(json.dumps(config))
    return work


@dataclass
class Output:
    """The tap's stdout: each line as written, and parsed; its stderr and exit status."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    stderr: str = ""
    returncode: int | None = None

    def sizes(self, kind: str) -> list[int]:
        """Bytes of each message of that type."""
        return [len(line) for line, m in zip(self.lines, self.messages, strict=True)
                if m["type"] == kind]

    def keys(self, upto: int | None = None) -> set[tuple[str, int, str]]:
        """(stream, division, id) of the records among the first ``upto`` messages."""
        return {(m["stream"], m["record"]["division"], m["record"]["id"])
                for m in self.messages[:upto] if m["type"] == "RECORD"}

    @property
    def last_state(self) -> int:
        return max(i for i, m in enumerate(self.messages) if m["type"] == "STATE")


OnRecord = Callable[[int, "subprocess.Popen[bytes]"], bool]
"""Called after each RECORD read with the count so far; True: read no further."""


def signal_at(count: int, signum: int) -> OnRecord:
    """Send ``signum`` once ``count`` records were read (SIGKILL: the output ends there)."""
    def act(records: int, proc: subprocess.Popen[bytes]) -> bool:
        if records == count:
            proc.send_signal(signum)
            return signum == signal.SIGKILL
        return False
    return act


def tap(work: Path, divisions: int, *, state: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None, on_record: OnRecord | None = None) -> Output:
    """The real tap over the first ``divisions`` divisions, its output read as it comes."""
    config = {**json.loads((work / "config.json").read_text()),
              "divisions": list(division_codes(divisions)), **(settings or {})}
    config_path = work / f"config-{divisions}.json"
    config_path.write_text(json.dumps(config))
    command = [TAP, "--config", str(config_path), "--catalog", str(work / "catalog.json")]
    if state is not None:
        (work / "state.json").write_text(json.dumps(state))
        command += ["--state", str(work / "state.json")]
    output = Output()
    with open(work / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
    assert proc.stdout is not None
    records = 0
    try:
        for line in proc.stdout:
            if not line.endswith(b"\n"):
                break  # cut off by a kill: no target saw it
            output.lines.append(line)
            output.messages.append(json.loads(line))
            if output.messages[-1]["type"] == "RECORD":
                records += 1
                if on_record is not None and on_record(records, proc):
                    break
    finally:
        proc.kill()
        output.returncode = proc.wait(timeout=60)
    output.stderr = (work / "stderr.log").read_text()
    return output


def every_row(sandbox: Sandbox, divisions: int) -> set[tuple[str, int, str]]:
    codes = division_codes(divisions)
    return {(stream, division, key) for stream, path in STREAMS.items()
            for division, key in exact_keys(sandbox, path, "ID", divisions=codes)}


def test_state_bytes_grow_linearly_with_divisions_not_with_pages(
    sandbox: Sandbox, setup: Path
) -> None:
    runs = {count: tap(setup, count) for count in (DIVISIONS // 3, DIVISIONS)}
    for count, run in runs.items():
        records = len(run.sizes("RECORD"))
        assert records == len(STREAMS) * ROWS * count, "every row of every division"
        bookmarks = len(STREAMS) * count
        # a STATE once the records since the last one outnumber its bookmarks, and the last
        assert len(run.sizes("STATE")) <= records // bookmarks + 1
    small, large = (sum(runs[count].sizes("STATE")) for count in sorted(runs))
    # three times the divisions: three times the STATE bytes (after every page: nine times)
    assert large <= 3.3 * small, (small, large)
    assert sum(runs[DIVISIONS].sizes("STATE")) < sum(runs[DIVISIONS].sizes("RECORD")) / 2


def test_a_run_with_nothing_changed_repeats_no_state(sandbox: Sandbox, setup: Path) -> None:
    first = tap(setup, DIVISIONS)
    again = tap(setup, DIVISIONS, state=first.messages[-1]["value"])
    assert not again.sizes("RECORD")
    assert len(again.sizes("STATE")) <= 2, "the state it started from, and its last one"


def test_a_run_killed_between_states_resumes_to_every_row_resending_none_committed(
    sandbox: Sandbox, setup: Path
) -> None:
    total = len(STREAMS) * ROWS * DIVISIONS
    stop_at = random.Random(16).randint(total // 4, total * 3 // 4)
    killed = tap(setup, DIVISIONS, on_record=signal_at(stop_at, signal.SIGKILL))
    sent = killed.keys(upto=killed.last_state)  # what a target has committed
    assert 0 < len(sent) < stop_at, "killed with records after the last STATE"
    resumed = tap(setup, DIVISIONS, state=killed.messages[killed.last_state]["value"])
    assert not sent & resumed.keys(), "a committed record sent again"
    assert sent | resumed.keys() == every_row(sandbox, DIVISIONS)


def test_a_run_stopped_by_sigterm_ends_with_a_state_covering_all_but_the_page_in_flight(
    sandbox: Sandbox, setup: Path
) -> None:
    total = len(STREAMS) * ROWS * DIVISIONS
    stop_at = random.Random(17).randint(total // 4, total * 3 // 4)
    stopped = tap(setup, DIVISIONS, on_record=signal_at(stop_at, signal.SIGTERM))
    assert stopped.messages[-1]["type"] == "STATE"
    sent = stopped.keys(upto=stopped.last_state)
    assert len(stopped.keys()) - len(sent) <= PAGE, "at most the page in flight uncovered"
    resumed = tap(setup, DIVISIONS, state=stopped.messages[-1]["value"])
    assert not sent & resumed.keys(), "a committed record sent again"
    assert sent | resumed.keys() == every_row(sandbox, DIVISIONS)


def test_a_run_failing_on_a_later_page_ends_with_a_state_covering_every_record_sent(
    sandbox: Sandbox, setup: Path
) -> None:
    def fail_contacts_from_now(records: int, proc: subprocess.Popen[bytes]) -> bool:
        if records == 1:  # every first page was read (the permission probe): the next
            # contacts page fails, after all companies were sent (the tap waits on the pipe)
            sandbox.inject_fault("/api/v1/*/sync/CRM/Contacts*", "status", status=500,
                                 count=100)
        return False

    try:
        failed = tap(setup, DIVISIONS, settings={"division_workers": 1, "max_retries": 1},
                     on_record=fail_contacts_from_now)
    finally:
        sandbox.clear_faults()
    assert failed.returncode == 1
    assert "sync/CRM/Contacts" in failed.stderr.splitlines()[-1]
    assert len(failed.keys()) >= ROWS * DIVISIONS, "every company was sent"
    assert failed.messages[-1]["type"] == "STATE"
    assert failed.keys(upto=failed.last_state) == failed.keys(), "every record sent is covered"
