"""The idempotency ledger: which input record became which Exact row, durably, in SQLite.

Every input record has a key (the configured ``external_id`` property, else a stable hash
of the record). The ledger maps (stream, division, key) to the Exact id and the hash of the
payload last written for it. Rows are committed with ``synchronous=FULL`` right after each
write, so a replay after a crash (even ``kill -9``) knows what already reached Exact.

Before a POST, an intent row (``pending``) is committed. A crash or an unanswered POST
leaves it behind; on replay such a record is never re-sent blindly (see ``writer.py``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

LedgerState = Literal["pending", "written", "deleted", "unknown"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    stream       TEXT    NOT NULL,
    division     INTEGER NOT NULL,
    input_key    TEXT    NOT NULL,
    exact_id     TEXT,
    payload_hash TEXT,
    state        TEXT    NOT NULL,
    updated_at   REAL    NOT NULL,
    PRIMARY KEY (stream, division, input_key)
);
"""


@dataclass(frozen=True)
class LedgerEntry:
    stream: str
    division: int
    input_key: str
    exact_id: str | None
    payload_hash: str | None
    state: LedgerState


class Ledger:
    """A small SQLite table; every ``record_*`` call is one committed transaction."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only:
            if self.path.exists():
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._conn: sqlite3.Connection | None = sqlite3.connect(uri, uri=True)
            else:
                self._conn = None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_SCHEMA)
        with contextlib.suppress(OSError):
            self.path.chmod(0o600)

    def get(self, stream: str, division: int, input_key: str) -> LedgerEntry | None:
        if self._conn is None:
            return None
        try:
            row = self._conn.execute(
                "SELECT exact_id, payload_hash, state FROM ledger "
                "WHERE stream = ? AND division = ? AND input_key = ?",
                (stream, division, input_key),
            ).fetchone()
        except sqlite3.OperationalError:  # read-only ledger without the table yet
            return None
        if row is None:
            return None
        return LedgerEntry(stream, division, input_key, row[0], row[1], row[2])

    def _put(
        self,
        stream: str,
        division: int,
        input_key: str,
        state: LedgerState,
        exact_id: str | None,
        payload_hash: str | None,
    ) -> None:
        if self.read_only or self._conn is None:
            raise RuntimeError("the ledger is read-only (dry run)")
        self._conn.execute(
            "INSERT INTO ledger (stream, division, input_key, exact_id, payload_hash, state, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (stream, division, input_key) DO UPDATE SET "
            "exact_id = excluded.exact_id, payload_hash = excluded.payload_hash, "
            "state = excluded.state, updated_at = excluded.updated_at",
            (stream, division, input_key, exact_id, payload_hash, state, time.time()),
        )

    def record_pending(
        self, stream: str, division: int, input_key: str, payload_hash: str
    ) -> None:
        """Before a POST: the create may reach Exact from now on."""
        self._put(stream, division, input_key, "pending", None, payload_hash)

    def record_written(
        self, stream: str, division: int, input_key: str, exact_id: str, payload_hash: str
    ) -> None:
        self._put(stream, division, input_key, "written", exact_id, payload_hash)

    def record_deleted(
        self, stream: str, division: int, input_key: str, exact_id: str | None
    ) -> None:
        self._put(stream, division, input_key, "deleted", exact_id, None)

    def record_unknown(
        self, stream: str, division: int, input_key: str, payload_hash: str | None
    ) -> None:
        """A POST whose outcome is unknown and could not be resolved: never re-send it."""
        self._put(stream, division, input_key, "unknown", None, payload_hash)

    def forget(self, stream: str, division: int, input_key: str) -> None:
        """Drop an intent after a definite refusal (nothing was created)."""
        if self.read_only or self._conn is None:
            raise RuntimeError("the ledger is read-only (dry run)")
        self._conn.execute(
            "DELETE FROM ledger WHERE stream = ? AND division = ? AND input_key = ?",
            (stream, division, input_key),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
