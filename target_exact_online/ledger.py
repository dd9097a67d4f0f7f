"""The idempotency ledger: which input record became which Exact row, durably, in SQLite.

Every input record has a key (the configured ``external_id`` property, else a stable hash
of the record). The ledger maps (stream, division, key) to the Exact id and the hash of the
payload last written for it. Rows are committed with ``synchronous=FULL`` right after each
write, so a replay after a crash (even ``kill -9``) knows what already reached Exact.

Before a POST, an intent row (``pending``) is committed with the run's ``owner`` id. A crash
or an unanswered POST leaves it behind; on replay such a record is never re-sent blindly
(see ``writer.py``). Only the run that wrote an intent may remove it, and a written row is
never removed at all.

Runs that share a ledger (two ``meltano run`` of the same input at once) take turns per
record: :meth:`Ledger.claim` is a cross-process file lock held from reading a record's row
to committing its outcome, so two processes never both create the same record.

The ledger also remembers Exact's refusals (400/401/403/404) per endpoint and division for
an hour, across runs: Exact blocks an app that collects too many (see ``guard.py``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, NoReturn

import filelock

from target_exact_online.errors import TargetStopped

LedgerState = Literal["pending", "written", "deleted", "unknown"]

LOCK_TIMEOUT = 900.0
"""Seconds to wait for another run's claim: longer than any one record's write can take."""
BUSY_TIMEOUT = 30.0
"""Seconds SQLite waits for a lock another program holds on the ledger file."""
ERROR_WINDOW = 3600.0
"""Exact counts refused calls per hour."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    stream       TEXT    NOT NULL,
    division     INTEGER NOT NULL,
    input_key    TEXT    NOT NULL,
    exact_id     TEXT,
    payload_hash TEXT,
    state        TEXT    NOT NULL,
    updated_at   REAL    NOT NULL,
    owner        TEXT,
    PRIMARY KEY (stream, division, input_key)
);
CREATE TABLE IF NOT EXISTS refused_calls (
    endpoint TEXT    NOT NULL,
    division INTEGER NOT NULL,
    status   INTEGER NOT NULL,
    at       REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS refused_calls_by_endpoint ON refused_calls (endpoint, division, at);
"""


class LedgerError(TargetStopped):
    """The ledger cannot be used (corrupt, locked, unwritable): the run stops before writing."""


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

    def __init__(self, path: Path | str, *, read_only: bool = False, owner: str | None = None,
                 lock_timeout: float = LOCK_TIMEOUT, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.owner = owner or uuid.uuid4().hex
        self.lock_timeout = lock_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = filelock.FileLock(f"{self.path}.lock", is_singleton=False)
        with self._errors("open"):
            if read_only:
                if self.path.exists():
                    uri = f"{self.path.resolve().as_uri()}?mode=ro"
                    self._conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
                    self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), isolation_level=None,
                                         timeout=busy_timeout)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(ledger)")}
            if "owner" not in columns:  # a ledger written before rows had owners
                self._conn.execute("ALTER TABLE ledger ADD COLUMN owner TEXT")
        with contextlib.suppress(OSError):
            self.path.chmod(0o600)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """SQLite's and the file system's errors as one clear :class:`LedgerError`."""
        try:
            yield
        except (sqlite3.DatabaseError, OSError) as exc:
            self._fail(exc, doing)

    def _fail(self, exc: Exception, doing: str) -> NoReturn:
        if isinstance(exc, OSError):
            problem = f"cannot be used: {exc.strerror or exc}"
        else:
            text = str(exc)
            if "locked" in text or "busy" in text:
                problem = (f"is locked by another program (SQLite: {text}); close whatever "
                           "holds it open and run again")
            elif "not a database" in text or "malformed" in text or "corrupt" in text:
                problem = (f"is not a SQLite ledger or is damaged (SQLite: {text}); point "
                           "ledger_path at the right file or restore it (an empty ledger "
                           "forgets what earlier runs wrote)")
            else:
                problem = f"cannot be used (SQLite: {text})"
        self.close()
        raise LedgerError(f"ledger {self.path} {problem} (while trying to {doing} it)") \
            from None

    # -- the cross-process claim -------------------------------------------------------------

    @contextlib.contextmanager
    def claim(self) -> Iterator[None]:
        """Hold the ledger's file lock: one record at a time across every process."""
        if self.read_only:
            yield
            return
        try:
            self._lock.acquire(timeout=self.lock_timeout)
        except filelock.Timeout:
            raise LedgerError(
                f"ledger {self.path}: another target-exact-online run has held its lock "
                f"({self._lock.lock_file}) for more than {self.lock_timeout:g} s; it is "
                "stuck or writing very slowly. Stop it, or wait for it and run again"
            ) from None
        except OSError as exc:
            raise LedgerError(f"ledger {self.path}: cannot lock {self._lock.lock_file}: "
                              f"{exc.strerror or exc}") from None
        try:
            yield
        finally:
            self._lock.release()

    # -- rows --------------------------------------------------------------------------------

    def get(self, stream: str, division: int, input_key: str) -> LedgerEntry | None:
        if self._conn is None:
            return None
        try:
            row = self._conn.execute(
                "SELECT exact_id, payload_hash, state FROM ledger "
                "WHERE stream = ? AND division = ? AND input_key = ?",
                (stream, division, input_key),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            if self.read_only and "no such table" in str(exc):
                return None  # a read-only ledger that never had a write
            self._fail(exc, "read")
        if row is None:
            return None
        return LedgerEntry(stream, division, input_key, row[0], row[1], row[2])

    def _execute(self, sql: str, args: tuple[object, ...]) -> None:
        if self.read_only or self._conn is None:
            raise RuntimeError("the ledger is read-only (dry run)")
        with self._errors("write"):
            self._conn.execute(sql, args)

    def _put(
        self,
        stream: str,
        division: int,
        input_key: str,
        state: LedgerState,
        exact_id: str | None,
        payload_hash: str | None,
    ) -> None:
        self._execute(
            "INSERT INTO ledger (stream, division, input_key, exact_id, payload_hash, state, "
            "updated_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (stream, division, input_key) DO UPDATE SET "
            "exact_id = excluded.exact_id, payload_hash = excluded.payload_hash, "
            "state = excluded.state, updated_at = excluded.updated_at, owner = excluded.owner",
            (stream, division, input_key, exact_id, payload_hash, state, time.time(),
             self.owner),
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
        """The record is gone from Exact: this key, and every other key that wrote that id."""
        self._put(stream, division, input_key, "deleted", exact_id, None)
        if exact_id is not None:
            self._execute(
                "UPDATE ledger SET state = 'deleted', updated_at = ?, owner = ? "
                "WHERE stream = ? AND division = ? AND exact_id = ? AND state = 'written'",
                (time.time(), self.owner, stream, division, exact_id),
            )

    def record_unknown(
        self, stream: str, division: int, input_key: str, payload_hash: str | None
    ) -> None:
        """A POST whose outcome is unknown and could not be resolved: never re-send it."""
        self._put(stream, division, input_key, "unknown", None, payload_hash)

    def forget(self, stream: str, division: int, input_key: str) -> None:
        """Drop this run's own intent after a definite refusal (nothing was created).

        Another run's row, and any written row, stays: only the process that wrote an
        intent knows that its POST created nothing.
        """
        self._execute(
            "DELETE FROM ledger WHERE stream = ? AND division = ? AND input_key = ? "
            "AND state = 'pending' AND owner = ?",
            (stream, division, input_key, self.owner),
        )

    # -- refused calls (the error-rate guard) --------------------------------------------------

    def record_error(self, endpoint: str, division: int, status: int, *,
                     at: float | None = None) -> None:
        self._execute(
            "INSERT INTO refused_calls (endpoint, division, status, at) VALUES (?, ?, ?, ?)",
            (endpoint, division, status, time.time() if at is None else at),
        )

    def recent_errors(self, endpoint: str, division: int, *, now: float | None = None) -> int:
        """Refused calls to ``endpoint`` in ``division`` within the last hour, by any run."""
        return len(self.recent_error_times(endpoint, division, now=now))

    def recent_error_times(self, endpoint: str, division: int, *,
                           now: float | None = None) -> list[float]:
        if self._conn is None or self.read_only:
            return []
        since = (time.time() if now is None else now) - ERROR_WINDOW
        with self._errors("read"):
            rows = self._conn.execute(
                "SELECT at FROM refused_calls WHERE endpoint = ? AND division = ? AND at > ? "
                "ORDER BY at", (endpoint, division, since)).fetchall()
        return [float(row[0]) for row in rows]

    # -- lifecycle ---------------------------------------------------------------------------

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
