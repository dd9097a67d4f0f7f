"""Temporary SQLite files a sync keeps rows or values in instead of memory.

A first sync can meet more rows than it should hold at once: the receivables that settle
invoices, the prices of a large item catalog, the invoice sync rows of a division. Each kind
is written to a throwaway SQLite file (no journal, no fsync: it lives for one run) and read
back by key. :class:`RowSpill` keeps rows by key; :class:`ValueSpill` one value a key, in
memory while they are few. ``invoice_log.SyncLog`` uses the same file helpers.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

IN_CHUNK = 500
"""Keys per SQLite ``IN (…)`` look-up (under SQLite's variable limit)."""


def connect(directory: str) -> sqlite3.Connection:
    db = sqlite3.connect(Path(directory) / "rows.sqlite3", check_same_thread=False,
                         isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    return db


def insert(db: sqlite3.Connection, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert many rows in one transaction (one file write instead of one per row)."""
    db.execute("BEGIN")
    try:
        db.executemany(sql, rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class RowSpill:
    """Rows by key in a temporary SQLite file: add many, read them back per key set."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="exact-spill-")
        self._db = connect(self._dir.name)
        self._db.execute("CREATE TABLE rows (key TEXT, data TEXT)")
        self._db.execute("CREATE INDEX rows_key ON rows (key)")

    def add(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        insert(self._db, "INSERT INTO rows VALUES (?, ?)",
                ((key, json.dumps(row)) for key, row in rows))

    def get(self, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(keys), IN_CHUNK):
            chunk = list(keys[start:start + IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            for key, data in self._db.execute(
                    f"SELECT key, data FROM rows WHERE key IN ({marks}) ORDER BY rowid", chunk):
                out.setdefault(key, []).append(json.loads(data))
        return out

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def _cell(key: str, value: Any) -> tuple[str, Any, str | None]:
    """A number or null as SQLite's own value; anything else (text, true, objects) as JSON,
    so that it reads back as the same Python value (SQLite would give true back as 1)."""
    kind = value.__class__
    if value is None or kind is float or (kind is int and -(2**63) <= value < 2**63):
        return key, value, None
    return key, None, json.dumps(value)


MEMORY_VALUES = 25_000
"""Values a :class:`ValueSpill` keeps in memory before it moves them to its file
(a few MB of item prices: most catalogs stay in memory, a large one costs no more)."""


class ValueSpill:
    """One value by key, the last one added winning (the items' prices of a first sync): in
    memory up to ``memory`` keys, then in a temporary SQLite file, numbers there without a
    JSON text per row."""

    def __init__(self, memory: int = MEMORY_VALUES) -> None:
        self._memory = memory
        self._values: dict[str, Any] | None = {}
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._db: sqlite3.Connection | None = None

    def add(self, items: Iterable[tuple[str, Any]]) -> None:
        if self._values is not None:
            self._values.update(items)
            if len(self._values) <= self._memory:
                return
            items, self._values = list(self._values.items()), None
        insert(self._file(), "INSERT INTO rows VALUES (?, ?, ?)",
                (_cell(key, value) for key, value in items))

    def _file(self) -> sqlite3.Connection:
        if self._db is None:
            self._dir = tempfile.TemporaryDirectory(prefix="exact-spill-")
            self._db = connect(self._dir.name)
            self._db.execute("CREATE TABLE rows (key TEXT, value, json TEXT)")
            self._db.execute("CREATE INDEX rows_key ON rows (key)")
        return self._db

    def get(self, keys: Sequence[str]) -> dict[str, Any]:
        """The value of each key that was added (keys never added are left out)."""
        if self._values is not None:
            values = self._values
            return {key: values[key] for key in keys if key in values}
        db = self._file()
        out: dict[str, Any] = {}
        for start in range(0, len(keys), IN_CHUNK):
            chunk = list(keys[start:start + IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            for key, value, text in db.execute(
                    f"SELECT key, value, json FROM rows WHERE key IN ({marks}) ORDER BY rowid",
                    chunk):
                out[key] = value if text is None else json.loads(text)
        return out

    def close(self) -> None:
        self._values = None
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
