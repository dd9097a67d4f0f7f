"""SQLite persistence for the sandbox: entity rows per division, Timestamp counters, sequences."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# First Timestamp of a division: Exact's row versions are large Int64 values, never small.
TIMESTAMP_START = 10_000_000_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    entity   TEXT    NOT NULL,
    division INTEGER NOT NULL,
    key      BLOB    NOT NULL,
    ts       INTEGER NOT NULL,
    parent   TEXT,
    data     TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rows_key ON rows (entity, division, key);
CREATE INDEX IF NOT EXISTS rows_ts ON rows (entity, division, ts);
CREATE INDEX IF NOT EXISTS rows_parent ON rows (entity, division, parent);
CREATE INDEX IF NOT EXISTS rows_code_accounts ON rows (division, json_extract(data, '$.Code'))
    WHERE entity = 'Accounts';
CREATE INDEX IF NOT EXISTS rows_code_items ON rows (division, json_extract(data, '$.Code'))
    WHERE entity = 'Items';
CREATE INDEX IF NOT EXISTS rows_code_projects ON rows (division, json_extract(data, '$.Code'))
    WHERE entity = 'Projects';
CREATE TABLE IF NOT EXISTS counters (
    division INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    value    INTEGER NOT NULL,
    PRIMARY KEY (division, name)
);
"""

# Entities whose Code is unique per division; rows_code_* index them (names are literals here
# because SQLite uses a partial index only for queries that repeat its literal condition).
CODE_ENTITIES = ("Accounts", "Items", "Projects")

StoredRow = tuple[Any, int, str]  # key, ts, data JSON
Snapshot = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]  # rows, counters


class Store:
    """One SQLite connection shared by every thread, serialised by a re-entrant lock."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        # 16 KiB pages (a new database only): a seeded row is about 800 bytes; a 1M-row seed
        # loads 10 % faster than with 4 KiB pages
        self._conn.execute("PRAGMA page_size=16384")
        if path:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self.ensure_schema(SCHEMA)

    # --- contract -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Exclusive (re-entrant) transaction; commits on normal exit, rolls back on error."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, for reads (no write transaction opened)."""
        with self._lock:
            yield self._conn

    def ensure_schema(self, ddl: str) -> None:
        with self._lock:
            self._conn.executescript(ddl)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- rows -------------------------------------------------------------------------------
    def wipe(self) -> None:
        """Delete every entity row and counter (the protocol side's tables are untouched)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM rows")
            conn.execute("DELETE FROM counters")

    def snapshot(self) -> Snapshot:
        """Every entity row and counter, to :meth:`restore` later (the seed's cache)."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT entity, division, key, ts, parent, data FROM rows").fetchall()
            counters = conn.execute("SELECT division, name, value FROM counters").fetchall()
        return rows, counters

    def restore(self, snapshot: Snapshot | None) -> bool:
        """Load a :meth:`snapshot` into an empty store; False when there is none."""
        if snapshot is None:
            return False
        rows, counters = snapshot
        with self.transaction() as conn:
            conn.executemany("INSERT INTO rows (entity, division, key, ts, parent, data) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO counters (division, name, value) VALUES (?, ?, ?)",
                             counters)
        return True

    def next_values(self, division: int, name: str, n: int = 1, start: int = 1) -> int:
        """Reserve ``n`` consecutive values of a per-division sequence; returns the first."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO counters (division, name, value) VALUES (?, ?, ?)",
                (division, name, start - 1),
            )
            row = conn.execute(
                "UPDATE counters SET value = value + ? WHERE division = ? AND name = ? "
                "RETURNING value",
                (n, division, name),
            ).fetchone()
            return int(row[0]) - n + 1

    def set_counter(self, division: int, name: str, value: int) -> None:
        """Set a sequence so that the next reserved value is ``value + 1``."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO counters (division, name, value) VALUES (?, ?, ?)",
                (division, name, value),
            )

    def next_timestamps(self, division: int, n: int = 1) -> int:
        """Bump the division's Int64 Timestamp ``n`` times; returns the first new value."""
        return self.next_values(division, "timestamp", n, start=TIMESTAMP_START)

    def current_timestamp(self, division: int) -> int:
        with self.reading() as conn:
            row = conn.execute(
                "SELECT value FROM counters WHERE division = ? AND name = 'timestamp'",
                (division,),
            ).fetchone()
        return int(row[0]) if row else TIMESTAMP_START - 1

    def put(
        self, entity: str, division: int, key: Any, ts: int, parent: str | None,
        data: dict[str, Any],
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO rows (entity, division, key, ts, parent, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (entity, division, key, ts, parent, dumps(data)),
            )

    def put_many(
        self, rows: Iterable[tuple[str, int, Any, int, str | None, str]]
    ) -> None:
        """Bulk insert pre-serialised rows (entity, division, key, ts, parent, data JSON)."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO rows (entity, division, key, ts, parent, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Load many rows into an empty store: the secondary indexes are dropped for the load
        and built once after it (a sort, instead of one random B-tree insert per row)."""
        with self._lock:
            empty = self._conn.execute("SELECT 1 FROM rows LIMIT 1").fetchone() is None
            if empty and self.path:
                # a seed is rebuilt from its seed number, never recovered: no rollback
                # journal and no fsync while it loads (the WAL would hold every row twice)
                self._conn.execute("PRAGMA journal_mode=OFF")
                self._conn.execute("PRAGMA synchronous=OFF")
            if empty:
                for (name,) in self._conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'index' "
                        "AND tbl_name = 'rows' AND sql IS NOT NULL").fetchall():
                    self._conn.execute(f'DROP INDEX "{name}"')
            try:
                yield
            finally:
                if empty:
                    self._conn.execute(f"PRAGMA temp_store={'FILE' if self.path else 'MEMORY'}")
                    try:
                        self._index_rows()
                    finally:
                        self._conn.execute("PRAGMA temp_store=MEMORY")
                        if self.path:
                            self._conn.execute("PRAGMA journal_mode=WAL")
                            self._conn.execute("PRAGMA synchronous=NORMAL")

    def _index_rows(self) -> None:
        """Build the indexes after a bulk load; a key loaded twice keeps its last row (as
        ``INSERT OR REPLACE`` does with the index in place)."""
        try:
            self._conn.executescript(SCHEMA)
        except sqlite3.IntegrityError:
            self._conn.execute("DELETE FROM rows WHERE rowid NOT IN (SELECT max(rowid) "
                               "FROM rows GROUP BY entity, division, key)")
            self._conn.executescript(SCHEMA)

    def get(self, entity: str, division: int, key: Any) -> StoredRow | None:
        with self.reading() as conn:
            row = conn.execute(
                "SELECT key, ts, data FROM rows WHERE entity = ? AND division = ? AND key = ?",
                (entity, division, key),
            ).fetchone()
        return (row[0], int(row[1]), str(row[2])) if row else None

    def get_by_ts(self, entity: str, division: int, ts: int) -> StoredRow | None:
        with self.reading() as conn:
            row = conn.execute(
                "SELECT key, ts, data FROM rows WHERE entity = ? AND division = ? AND ts = ?",
                (entity, division, ts),
            ).fetchone()
        return (row[0], int(row[1]), str(row[2])) if row else None

    def children(self, entity: str, division: int, parents: Sequence[str]) -> list[StoredRow]:
        """Rows whose parent column is one of ``parents``, by parent then key."""
        if not parents:
            return []
        marks = ",".join("?" * len(parents))
        with self.reading() as conn:
            rows = conn.execute(
                f"SELECT key, ts, data FROM rows WHERE entity = ? AND division = ? "
                f"AND parent IN ({marks}) ORDER BY parent, key",
                (entity, division, *parents),
            ).fetchall()
        return [(r[0], int(r[1]), str(r[2])) for r in rows]

    def delete(self, entity: str, division: int, key: Any) -> bool:
        with self.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM rows WHERE entity = ? AND division = ? AND key = ?",
                (entity, division, key),
            )
            return cur.rowcount > 0

    def delete_children(self, entity: str, division: int, parent: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM rows WHERE entity = ? AND division = ? AND parent = ?",
                (entity, division, parent),
            )

    def select(self, sql: str, params: Sequence[Any]) -> list[StoredRow]:
        """Run a generated ``SELECT key, ts, data FROM rows ...`` (parameterised)."""
        with self.reading() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [(r[0], int(r[1]), str(r[2])) for r in rows]

    def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Run a query and return its rows as SQLite gives them (no conversion per row)."""
        with self.reading() as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any]) -> int:
        with self.reading() as conn:
            row = conn.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(data: dict[str, Any]) -> str:
    """Compact JSON of a row, nulls left out (they are filled back from the entity's fields)."""
    return _ENCODER.encode({k: v for k, v in data.items() if v is not None})
