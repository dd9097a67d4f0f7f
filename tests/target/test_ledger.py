"""The ledger on its own: who may remove a row, the cross-process lock, unusable files."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from target_exact_online.ledger import Ledger, LedgerError

S, D = "generic_company", 100001


def test_a_row_written_by_another_process_is_never_forgotten(tmp_path: Path) -> None:
    winner = Ledger(tmp_path / "l.sqlite", owner="run-a")
    loser = Ledger(tmp_path / "l.sqlite", owner="run-b")
    winner.record_pending(S, D, "k", "h")
    winner.record_written(S, D, "k", "id-1", "h")
    loser.forget(S, D, "k")  # the loser's own POST was refused (Code exists)
    entry = winner.get(S, D, "k")
    assert entry is not None and (entry.state, entry.exact_id) == ("written", "id-1")


def test_another_process_pending_intent_is_not_forgotten_either(tmp_path: Path) -> None:
    first = Ledger(tmp_path / "l.sqlite", owner="run-a")
    second = Ledger(tmp_path / "l.sqlite", owner="run-b")
    first.record_pending(S, D, "k", "h")
    second.forget(S, D, "k")
    entry = first.get(S, D, "k")
    assert entry is not None and entry.state == "pending"


def test_own_pending_intent_is_forgotten(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite", owner="run-a")
    ledger.record_pending(S, D, "k", "h")
    ledger.forget(S, D, "k")
    assert ledger.get(S, D, "k") is None


def test_own_written_row_is_not_forgotten(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite", owner="run-a")
    ledger.record_written(S, D, "k", "id-1", "h")
    ledger.forget(S, D, "k")
    assert ledger.get(S, D, "k") is not None


def _hold_claim(path: str, seconds: float, ready: multiprocessing.synchronize.Event) -> None:
    with Ledger(path, owner="holder").claim():
        ready.set()
        time.sleep(seconds)


def test_claim_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "l.sqlite")
    Ledger(path).close()
    ready = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(target=_hold_claim,
                                                          args=(path, 1.5, ready))
    holder.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        with Ledger(path, owner="waiter").claim():
            waited = time.monotonic() - started
    finally:
        holder.join(30)
    assert waited > 0.5, "the second process waited for the first one's claim"


def test_a_claim_held_too_long_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    path = str(tmp_path / "l.sqlite")
    Ledger(path).close()
    ready = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(target=_hold_claim,
                                                          args=(path, 3, ready))
    holder.start()
    try:
        assert ready.wait(30)
        ledger = Ledger(path, owner="waiter", lock_timeout=0.3)
        with pytest.raises(LedgerError) as caught, ledger.claim():
            pass
    finally:
        holder.join(30)
    assert path in str(caught.value)
    assert "another target-exact-online run" in str(caught.value)


def test_a_corrupt_ledger_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    path.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert str(path) in str(caught.value)
    assert "not a SQLite" in str(caught.value)


def test_a_corrupt_ledger_is_a_clear_error_in_a_dry_run_too(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(LedgerError) as caught:
        Ledger(path, read_only=True).get(S, D, "k")
    assert str(path) in str(caught.value)


def test_a_ledger_locked_by_another_program_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LedgerError) as caught:
            ledger = Ledger(path, busy_timeout=0.2)
            ledger.record_written(S, D, "k", "id-1", "h")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert str(path) in str(caught.value)
    assert "locked" in str(caught.value)


def test_a_ledger_of_an_older_version_gains_the_owner_column(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ledger (stream TEXT NOT NULL, division INTEGER NOT NULL, "
                     "input_key TEXT NOT NULL, exact_id TEXT, payload_hash TEXT, "
                     "state TEXT NOT NULL, updated_at REAL NOT NULL, "
                     "PRIMARY KEY (stream, division, input_key))")
        conn.execute("INSERT INTO ledger VALUES (?, ?, 'k', 'id-1', 'h', 'written', 0)", (S, D))
    ledger = Ledger(path, owner="run-a")
    entry = ledger.get(S, D, "k")
    assert entry is not None and entry.exact_id == "id-1"
    ledger.record_pending(S, D, "k2", "h")
    ledger.forget(S, D, "k2")
    assert ledger.get(S, D, "k2") is None


def test_deleting_an_id_marks_every_key_that_wrote_it_deleted(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite", owner="run-a")
    ledger.record_written(S, D, "ext:R", "id-1", "h")
    ledger.record_deleted(S, D, "sha256:delete-record", "id-1")
    entry = ledger.get(S, D, "ext:R")
    assert entry is not None and (entry.state, entry.exact_id) == ("deleted", "id-1")


def test_refused_calls_are_counted_per_endpoint_and_division_for_an_hour(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite", owner="run-a")
    now = time.time()
    ledger.record_error("crm/Accounts", D, 400, at=now - 3700)  # more than an hour ago
    ledger.record_error("crm/Accounts", D, 400, at=now - 10)
    ledger.record_error("crm/Accounts", D, 404, at=now - 5)
    ledger.record_error("crm/Contacts", D, 400, at=now - 5)
    ledger.record_error("crm/Accounts", 100002, 403, at=now - 5)
    assert ledger.recent_errors("crm/Accounts", D, now=now) == 2
