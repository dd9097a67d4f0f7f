"""SQLite store: transactions, schema for the protocol side, Timestamp counters, persistence."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from exact_online_sandbox.store import TIMESTAMP_START, Store


def test_transaction_commits_on_exit() -> None:
    store = Store(None)
    with store.transaction() as conn:
        conn.execute("INSERT INTO counters VALUES (1, 'x', 5)")
    assert store.scalar("SELECT value FROM counters WHERE name = 'x'", ()) == 5


def test_transaction_rolls_back_on_error() -> None:
    store = Store(None)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO counters VALUES (1, 'x', 5)")
        raise RuntimeError("boom")
    assert store.scalar("SELECT count(*) FROM counters", ()) == 0


def test_nested_transactions_commit_once_with_the_outer_one() -> None:
    store = Store(None)
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction() as conn:
            conn.execute("INSERT INTO counters VALUES (1, 'x', 5)")
        raise RuntimeError("outer fails")
    assert store.scalar("SELECT count(*) FROM counters", ()) == 0


def test_ensure_schema_gives_the_protocol_side_its_own_tables() -> None:
    store = Store(None)
    store.ensure_schema("CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY)")
    store.ensure_schema("CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY)")
    with store.transaction() as conn:
        conn.execute("INSERT INTO tokens VALUES ('a')")
    store.wipe()
    assert store.scalar("SELECT count(*) FROM tokens", ()) == 1


def test_timestamps_start_large_and_increase_per_division() -> None:
    store = Store(None)
    first = store.next_timestamps(100001)
    second = store.next_timestamps(100001, 3)
    other = store.next_timestamps(100002)
    assert first == TIMESTAMP_START >= 10**10
    assert second == first + 1
    assert store.next_timestamps(100001) == first + 4
    assert other == TIMESTAMP_START
    assert store.current_timestamp(100001) == first + 4


def test_timestamps_are_unique_across_threads() -> None:
    store = Store(None)
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            value = store.next_timestamps(1)
            with lock:
                seen.append(value)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 800


def test_rows_drop_nulls_and_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "sandbox.sqlite")
    store = Store(path)
    store.put("Accounts", 1, "k1", 7, "p1", {"ID": "k1", "Name": "Ørsted", "Email": None})
    store.close()
    reopened = Store(path)
    stored = reopened.get("Accounts", 1, "k1")
    assert stored is not None
    assert stored[1] == 7
    assert stored[2] == '{"ID":"k1","Name":"Ørsted"}'
    assert [r[0] for r in reopened.children("Accounts", 1, ["p1"])] == ["k1"]


def test_integer_keys_sort_numerically() -> None:
    store = Store(None)
    for key in (10, 9, 100):
        store.put("Divisions", 0, key, key, None, {"Code": key})
    rows = store.select("SELECT key, ts, data FROM rows ORDER BY key", ())
    assert [r[0] for r in rows] == [9, 10, 100]


def test_delete_reports_whether_a_row_existed() -> None:
    store = Store(None)
    store.put("Items", 1, "a", 1, None, {"ID": "a"})
    assert store.delete("Items", 1, "a") is True
    assert store.delete("Items", 1, "a") is False


def test_a_key_loaded_twice_in_a_bulk_load_keeps_its_last_row(tmp_path: Path) -> None:
    """The unique key index is built after a bulk load: a key written twice during it ends
    as ``INSERT OR REPLACE`` would have left it (the later row), and the index is there."""
    store = Store(str(tmp_path / "bulk.sqlite3"))
    with store.bulk_load():
        store.put_many([("Accounts", 1, "a", 10, None, '{"Name":"first"}'),
                        ("Accounts", 1, "b", 11, None, '{"Name":"other"}'),
                        ("Accounts", 1, "a", 12, None, '{"Name":"second"}')])
    assert store.get("Accounts", 1, "a") == ("a", 12, '{"Name":"second"}')
    assert store.get("Accounts", 1, "b") == ("b", 11, '{"Name":"other"}')
    store.put("Accounts", 1, "a", 13, None, {"Name": "third"})
    assert store.scalar("SELECT count(*) FROM rows WHERE key = 'a'", ()) == 1
    store.close()
