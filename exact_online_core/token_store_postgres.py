"""One login's tokens in a PostgreSQL row, so workers on many machines share one rotating token.

``token_store: "postgresql://user@host:port/db"`` keeps the tokens in the table
``exact_online_tokens`` (one row per login, named by the URL's ``#fragment`` or the app's
client_id). :meth:`PostgresTokenStore.lock` opens a transaction and locks the row with
``SELECT ... FOR UPDATE`` for the whole refresh; ``read`` and ``write`` happen inside it, and
the transaction commits when the lock is released, which the broker does before it hands
out the new access token. So:

- the new tokens are committed before they are used;
- a process that dies at any instant (the server sees the connection drop, or a hung one
  stays idle in its transaction past ``IDLE_IN_TRANSACTION``) leaves the row as it was
  before its refresh: the refresh token it sent, which Exact keeps accepting for 10 minutes
  while nobody used its successors (exact-api.md §1.4), so the next process refreshes again;
- there is nothing half-written to recover: the database commits all or nothing.

Threads of one process (the tap reads divisions in parallel through one broker) take the
lock in turn, as processes do: the row's transaction belongs to the thread holding it.

psycopg 3 is an optional extra (``pip install 'tap-exact-online[postgres]'``), imported when
the store is first used.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

from exact_online_core.config import DatabaseLocation
from exact_online_core.errors import AuthError, ConfigError
from exact_online_core.token_store import TokenSet

log = logging.getLogger("exact_online_core.auth")

TABLE = "exact_online_tokens"
LOCK_TIMEOUT = 300.0
"""Seconds to wait for another process's refresh (the file store waits as long)."""
IDLE_IN_TRANSACTION = 600.0
"""Seconds after which the server ends a session that holds the row lock and does nothing
(a process hung or a machine gone without closing its connection). A refresh takes at most
three token requests of ``timeout`` (60 s) each, with back-off in between."""
CONNECT_TIMEOUT = 30

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name       text PRIMARY KEY,
    tokens     jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""
_SCHEMA_LOCK = 0x45584f4c  # advisory lock id: processes create the table one at a time


def _psycopg() -> ModuleType:
    try:
        return importlib.import_module("psycopg")
    except ImportError:
        raise ConfigError(
            "token_store", "a postgresql:// token store needs psycopg 3: install "
            "the postgres extra, pip install 'tap-exact-online[postgres]'") from None


class PostgresTokenStore:
    """The :class:`~exact_online_core.token_store.TokenStore` of a postgresql:// token_store."""

    def __init__(self, location: DatabaseLocation, *, row: str,
                 lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.location = location
        self.row = row
        self._lock_timeout = lock_timeout
        self._conn: Any = None
        """The connection whose transaction holds the row lock, while :meth:`lock` is held."""
        self._holder: int | None = None
        """The thread holding :meth:`lock` (its reads and writes are the transaction's)."""
        self._threads = threading.Lock()
        """Threads of this process take the row one at a time (one transaction per store)."""
        self._locked: TokenSet | None = None
        self._written = False
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"PostgresTokenStore({str(self.location)!r}, row={self.row!r})"

    def __str__(self) -> str:
        return f"{self.location} (table {TABLE}, row {self.row})"

    # -- the TokenStore protocol ----------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """A transaction holding the login's row (``FOR UPDATE``), committed on release.

        When what ran under the lock failed, the transaction is rolled back, unless it wrote
        new tokens: tokens Exact issued are kept whatever happened after."""
        if self._holder == threading.get_ident():
            raise AuthError(f"The token store {self} is already locked by this thread")
        started = time.monotonic()
        if not self._threads.acquire(timeout=self._lock_timeout):
            raise AuthError(f"Timed out waiting for the token store lock ({self}); "
                            "another thread of this process holds it")
        try:
            waited = time.monotonic() - started
            with self._row_locked(max(0.001, self._lock_timeout - waited)):
                yield
        finally:
            self._threads.release()

    @contextlib.contextmanager
    def _row_locked(self, lock_timeout: float) -> Iterator[None]:
        """The row's transaction, for the one thread that holds ``_threads``."""
        psycopg = _psycopg()
        conn = self._connect(autocommit=False)
        try:
            try:
                conn.execute("SELECT set_config('lock_timeout', %s, true), "
                             "set_config('idle_in_transaction_session_timeout', %s, true)",
                             (f"{int(lock_timeout * 1000)}ms",
                              f"{int(IDLE_IN_TRANSACTION * 1000)}ms"))
                conn.execute(f"INSERT INTO {TABLE} (name) VALUES (%s) "
                             "ON CONFLICT (name) DO NOTHING", (self.row,))
                found = conn.execute(
                    f"SELECT tokens FROM {TABLE} WHERE name = %s FOR UPDATE",
                    (self.row,)).fetchone()
            except psycopg.errors.LockNotAvailable:
                raise AuthError(f"Timed out waiting for the token store lock ({self}); "
                                "another process holds it") from None
            self._conn, self._locked, self._written = conn, self._parse(found[0]), False
            self._holder = threading.get_ident()
            try:
                yield
            except BaseException:
                if self._written:
                    conn.commit()
                else:
                    conn.rollback()
                raise
            conn.commit()
        except psycopg.OperationalError as exc:
            raise self._unusable(exc, "while holding the token row") from None
        finally:
            self._conn, self._locked, self._holder = None, None, None
            conn.close()

    def _holds_lock(self) -> bool:
        return self._conn is not None and self._holder == threading.get_ident()

    def read(self) -> TokenSet | None:
        """The stored tokens: under the lock, as locked (and written since); else a plain read
        (another thread's uncommitted write is not seen)."""
        if self._holds_lock():
            return self._locked
        psycopg = _psycopg()
        conn = self._connect()
        try:
            found = conn.execute(f"SELECT tokens FROM {TABLE} WHERE name = %s",
                                 (self.row,)).fetchone()
        except psycopg.OperationalError as exc:
            raise self._unusable(exc, "while reading the token row") from None
        finally:
            conn.close()
        return self._parse(found[0] if found else None)

    def write(self, tokens: TokenSet) -> None:
        """Under the lock: part of the transaction, committed when the lock is released.
        Outside it: an upsert committed at once."""
        data = json.dumps(tokens.to_json())
        upsert = (f"INSERT INTO {TABLE} (name, tokens, updated_at) VALUES "
                  "(%s, %s::jsonb, now()) ON CONFLICT (name) DO UPDATE "
                  "SET tokens = excluded.tokens, updated_at = excluded.updated_at")
        if self._holds_lock():
            self._conn.execute(upsert, (self.row, data))
            self._locked, self._written = tokens, True
            return
        psycopg = _psycopg()
        conn = self._connect()
        try:
            conn.execute(upsert, (self.row, data))
        except psycopg.OperationalError as exc:
            raise self._unusable(exc, "while writing the token row") from None
        finally:
            conn.close()

    # -- internals ----------------------------------------------------------------------

    def _connect(self, *, autocommit: bool = True) -> Any:
        psycopg = _psycopg()
        try:
            conn = psycopg.connect(self.location.url.reveal(), autocommit=autocommit,
                                   connect_timeout=CONNECT_TIMEOUT,
                                   application_name="exact-online-token-store")
        except psycopg.ProgrammingError as exc:  # the URL itself (an unknown option, ...)
            raise ConfigError("token_store", f"{self.location} is not a usable PostgreSQL "
                              f"URL: {self._clean(exc)}") from None
        except psycopg.OperationalError as exc:
            raise self._unusable(exc, "while connecting") from None
        if not self._schema_ready:
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    conn.execute(_CREATE)
                if not autocommit:
                    conn.commit()
            except psycopg.Error as exc:
                conn.close()
                raise self._unusable(exc, f"while creating the table {TABLE}") from None
            self._schema_ready = True
        return conn

    def _parse(self, data: Any) -> TokenSet | None:
        if data is None:
            return None
        try:
            return TokenSet.from_json(data)
        except ValueError as exc:
            raise AuthError(
                f"The token store {self} does not hold a valid token object ({exc}); "
                "run `exact-online login`") from None

    def _clean(self, exc: Exception) -> str:
        """psycopg's message on one line, without the URL's password should it appear."""
        text = " ".join(str(exc).split())
        password = _password(self.location)
        return text.replace(password, "****") if password else text

    def _unusable(self, exc: Exception, when: str) -> ConfigError:
        return ConfigError("token_store", f"{self.location} cannot be used {when}: "
                           f"{self._clean(exc)}")


def _password(location: DatabaseLocation) -> str | None:
    password = urlsplit(location.url.reveal()).password
    return unquote(password) if password else None


__all__ = ["TABLE", "PostgresTokenStore"]
