"""SIGTERM or SIGINT in the middle of a page: the run's last STATE covers every record it
wrote, so a resume sends none of them again and misses none.

The tap runs in this process so that the signal lands at a chosen record, inside a page
(from outside, a signal lands wherever the tap happens to be).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.helpers import exact_keys

from exact_online_sandbox.server import Sandbox
from tap_exact_online.output import SingerOutput

from .conftest import SandboxClock, TapOutput, discover, tap_in_process

STREAM = "generic_contact"
CONTACTS = 2500  # three sync pages of 1000
SIGNAL_AT = 1500  # the 500th record of the second page


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=42, size={"contacts": CONTACTS}) as sb:
        sb.set_limits(minutely=100000, daily=1000000)
        yield sb


@pytest.fixture
def signal_at_record(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int, int], None]]:
    """Make the tap send itself ``signum`` while it writes its ``count``-th record."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    write_record, write_records = SingerOutput.write_record, SingerOutput.write_records

    def arm(count: int, signum: int) -> None:
        written = 0

        def counting(self: SingerOutput, *args: Any, **kwargs: Any) -> None:
            nonlocal written
            write_record(self, *args, **kwargs)
            written += 1
            if written == count:
                os.kill(os.getpid(), signum)

        def counting_page(self: SingerOutput, stream: str, records: list[dict[str, Any]],
                          version: int | None) -> None:
            # a page written in one piece: the signal comes right after its count-th record
            nonlocal written
            cut = count - written
            if 0 < cut <= len(records):
                write_records(self, stream, records[:cut], version)
                os.kill(os.getpid(), signum)
                write_records(self, stream, records[cut:], version)
            else:
                write_records(self, stream, records, version)
            written += len(records)

        monkeypatch.setattr(SingerOutput, "write_record", counting)
        monkeypatch.setattr(SingerOutput, "write_records", counting_page)

    yield arm
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def keys(run: TapOutput, records: list[dict[str, Any]] | None = None) -> list[tuple[int, str]]:
    return [(r["division"], r["id"]) for r in (run.records(STREAM) if records is None
                                               else records)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_inside_a_page_stops_with_a_state_covering_every_record_written(
    signum: int, sandbox: Sandbox, make_settings: Callable[..., dict[str, Any]],
    signal_at_record: Callable[[int, int], None], out_dir: Path,
) -> None:
    config = make_settings(sandbox, divisions=[100001])
    catalog = discover(config, {STREAM})
    clock = SandboxClock.of(sandbox)
    signal_at_record(SIGNAL_AT, signum)
    stopped = tap_in_process(config, out_dir, clock, catalog=catalog, label="stopped")
    assert isinstance(stopped.error, SystemExit) and stopped.error.code == 0, stopped.error
    assert stopped.messages[-1]["type"] == "STATE", "the last message is the state to resume from"
    written = keys(stopped)
    assert SIGNAL_AT <= len(written) < CONTACTS
    assert written == keys(stopped, [m["record"] for m in stopped.committed()]), (
        "every record written comes before the last STATE")

    resumed = tap_in_process(config, out_dir, clock, catalog=catalog, state=stopped.state,
                             label="resumed")
    assert resumed.error is None, resumed.error
    again = set(written) & set(keys(resumed))
    assert not again, f"{len(again)} records the last STATE covered were sent again"
    assert set(written) | set(keys(resumed)) == exact_keys(sandbox, "crm/Contacts", "ID",
                                                            divisions=(100001,))


@pytest.mark.parametrize("signal_at", range(4, 14))
def test_a_signal_inside_a_page_after_pages_no_state_covered_yet_resumes_without_repeats(
    signal_at: int, sandbox: Sandbox, make_settings: Callable[..., dict[str, Any]],
    signal_at_record: Callable[[int, int], None], out_dir: Path,
) -> None:
    # Pages of 3 rows against 4 bookmarks (2 streams x 2 divisions): a STATE follows every
    # second page, so a signal often comes after a page that no STATE covers yet.
    sandbox.reset(size={"accounts": 12, "contacts": 12})
    sandbox.set_limits(minutely=100000, daily=1000000, page_size=3)
    config = make_settings(sandbox, divisions=[100001, 100002])
    catalog = discover(config, {"generic_company", STREAM})
    clock = SandboxClock.of(sandbox)
    signal_at_record(signal_at, signal.SIGTERM)
    stopped = tap_in_process(config, out_dir, clock, catalog=catalog, label="stopped")
    assert isinstance(stopped.error, SystemExit) and stopped.error.code == 0, stopped.error
    written = [(m["stream"], m["record"]["division"], m["record"]["id"])
               for m in stopped.messages if m["type"] == "RECORD"]
    committed = [(m["stream"], m["record"]["division"], m["record"]["id"])
                 for m in stopped.committed()]
    resumed = tap_in_process(config, out_dir, clock, catalog=catalog, state=stopped.state,
                             label="resumed")
    assert resumed.error is None, resumed.error
    again = [(m["stream"], m["record"]["division"], m["record"]["id"])
             for m in resumed.messages if m["type"] == "RECORD"]
    assert not set(committed) & set(again), "a record before the last STATE was sent again"
    assert set(written) | set(again) == {
        (stream, division, key) for stream, path in (("generic_company", "crm/Accounts"),
                                                     (STREAM, "crm/Contacts"))
        for division, key in exact_keys(sandbox, path, "ID", divisions=(100001, 100002))}
