"""Pages written whole (client.py ``_direct_writes``) give exactly the messages of the SDK's
record-by-record loop: the same RECORD lines, and the same STATE messages at the same
places, including the SDK's STATE offer after every ``STATE_MSG_FREQUENCY`` records, which
falls inside pages, across divisions, and among the deletions of an incremental run.

The tap runs in this process so that the SDK's loop can be switched back on for comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox
from tap_exact_online.client import ExactStream
from tap_exact_online.output import SingerOutput

from .conftest import SandboxClock, TapOutput, discover, tap_in_process

STREAMS = {"generic_company", "generic_contact"}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=7, size={"accounts": 14, "contacts": 11}) as sb:
        sb.set_limits(minutely=100000, daily=1000000, page_size=3)
        yield sb


def comparable(run: TapOutput) -> list[dict[str, Any]]:
    """The messages without ``time_extracted`` (the clock's, different in every run)."""
    assert run.error is None, run.error
    return [{k: v for k, v in m.items() if k != "time_extracted"} for m in run.messages]


def pages_written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the records :meth:`SingerOutput.write_records` writes, a call at a time."""
    calls: list[int] = []
    write_records = SingerOutput.write_records

    def counting(self: SingerOutput, stream: str, records: list[dict[str, Any]],
                 version: int | None) -> None:
        calls.append(len(records))
        write_records(self, stream, records, version)

    monkeypatch.setattr(SingerOutput, "write_records", counting)
    return calls


@pytest.mark.parametrize("every", [5, 10000])
def test_pages_written_whole_give_the_messages_of_the_sdk_record_loop(
    every: int, sandbox: Sandbox, make_settings: Callable[..., dict[str, Any]],
    out_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_settings(sandbox)  # two divisions
    catalog = discover(config, STREAMS)
    clock = SandboxClock.of(sandbox)
    monkeypatch.setattr(ExactStream, "STATE_MSG_FREQUENCY", every)
    calls = pages_written(monkeypatch)

    def run(direct: bool, label: str, state: dict[str, Any] | None = None) -> TapOutput:
        with monkeypatch.context() as patch:
            if not direct:
                patch.setattr(ExactStream, "_direct_writes", False)
            return tap_in_process(config, out_dir, clock, catalog=catalog, state=state,
                                  label=label)

    first = run(True, "direct")
    assert calls and max(calls) == 3, "pages of 3 rows went out whole"
    calls.clear()
    first_looped = run(False, "loop")
    assert not calls, "the SDK's loop wrote every record"
    assert comparable(first) == comparable(first_looped)

    company = first.records("generic_company")[0]
    token = sandbox.access_token()
    assert sandbox.call(token, f"crm/Accounts(guid'{company['id']}')", "DELETE").status_code == 204
    again = run(True, "direct-again", first.state)
    assert any(r["_sdc_deleted_at"] for r in again.records("generic_company")), (
        "the incremental run carries the deletion")
    assert comparable(again) == comparable(run(False, "loop-again", first_looped.state))
