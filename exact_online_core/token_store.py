"""Where one login's tokens live on disk, so a crash at any instant never loses the live one.

Exact rotates the refresh token on every refresh and rejects the old one, so the store must
never end up holding a rotated-away token while the new one existed only in a dead process.
:class:`FileTokenStore` therefore:

- resolves its path once (symlinks followed) and locks, writes and replaces the *real* file;
- writes every new token set first to a fixed pending file (``<store>.pending``, 0600,
  fsync'd) and then renames it over the store and fsyncs the directory;
- recovers, under the lock, a pending file a killed process left behind: it is newer than
  the store (it only exists between its write and its rename), so the rename is completed;
  a torn one (killed while writing it) is dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import filelock

from exact_online_core.config import DatabaseLocation
from exact_online_core.errors import AuthError, ConfigError
from exact_online_core.paths import blocked_by_file
from exact_online_core.secrets import Secret

log = logging.getLogger("exact_online_core.auth")

ACCESS_TOKEN_LIFETIME = 600
"""Seconds an Exact access token lives, counted from issue."""

REFRESH_NOT_BEFORE = 570
"""Exact refuses a refresh earlier than this many seconds after the last issue."""

STORE_FORMAT = 1
ORIGIN_LOGIN = "login"
ORIGIN_SEED = "seed"


@dataclass(frozen=True)
class TokenSet:
    """What the store holds: the live refresh token and the latest access token."""

    refresh_token: Secret
    access_token: Secret | None = None
    issued_at: float = 0.0
    """Broker-clock epoch seconds at which ``access_token`` was received."""
    expires_in: int = ACCESS_TOKEN_LIFETIME
    client_id: str | None = None
    seed_fingerprint: str | None = None
    """Fingerprint of the configured refresh token that seeded this store."""
    origin: str | None = None
    """``login`` (the authorization-code flow) or ``seed`` (a configured refresh token)."""
    used_seeds: tuple[str, ...] = field(default=())
    """Fingerprints of every configured refresh token this store was ever seeded from."""

    def age(self, now: float) -> float:
        return now - self.issued_at

    def usable(self, now: float) -> bool:
        """An access token exists and Exact still accepts it."""
        return self.access_token is not None and self.age(now) < self.expires_in

    def fresh(self, now: float) -> bool:
        """Usable and too young to refresh: the normal case between refreshes."""
        return self.access_token is not None and self.age(now) < REFRESH_NOT_BEFORE

    @property
    def from_login(self) -> bool:
        """The chain started at a login (older stores: no seed recorded)."""
        if self.origin is not None:
            return self.origin == ORIGIN_LOGIN
        return self.seed_fingerprint is None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STORE_FORMAT,
            "client_id": self.client_id,
            "refresh_token": self.refresh_token.reveal(),
            "access_token": self.access_token.reveal() if self.access_token else None,
            "issued_at": self.issued_at,
            "expires_in": self.expires_in,
            "seed_fingerprint": self.seed_fingerprint,
            "origin": self.origin,
            "used_seeds": list(self.used_seeds),
        }

    @classmethod
    def from_json(cls, data: Any) -> TokenSet:
        """Parse a stored token set; ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not a token object")
        refresh = data.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise ValueError("refresh_token is missing or not a string")
        access = data.get("access_token")
        if access is not None and not isinstance(access, str):
            raise ValueError("access_token is not a string")
        issued_at = _number(data.get("issued_at", 0.0), "issued_at")
        expires_in = _number(data.get("expires_in") or ACCESS_TOKEN_LIFETIME, "expires_in")
        used = data.get("used_seeds") or []
        if not isinstance(used, list) or not all(isinstance(tag, str) for tag in used):
            raise ValueError("used_seeds is not a list of strings")
        text = {name: data.get(name) for name in ("client_id", "seed_fingerprint", "origin")}
        for name, value in text.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} is not a string")
        return cls(
            refresh_token=Secret(refresh),
            access_token=Secret(access) if access else None,
            issued_at=issued_at,
            expires_in=int(expires_in),
            client_id=text["client_id"],
            seed_fingerprint=text["seed_fingerprint"],
            origin=text["origin"],
            used_seeds=tuple(used),
        )


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} is not a finite number")
    return float(value)


class TokenStore(Protocol):
    """Durable home of one login's tokens, shared by processes.

    Implementations: :class:`FileTokenStore` (one host) and
    :class:`~exact_online_core.token_store_postgres.PostgresTokenStore` (many machines);
    others (a secret manager) only need a cross-process lock and atomic reads and writes.
    ``read`` under the lock may complete a write a crashed process left half done. What is
    written under the lock must be durable when the lock is released (the broker hands out
    a new access token only after that).
    """

    def lock(self) -> contextlib.AbstractContextManager[None]: ...

    def read(self) -> TokenSet | None: ...

    def write(self, tokens: TokenSet) -> None: ...


class FileTokenStore:
    """A JSON file, mode 0600, replaced atomically at its real path, guarded by ``<file>.lock``."""

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 300.0) -> None:
        given = Path(path).expanduser()
        self.path = Path(os.path.realpath(given))
        """The real file (symlinks resolved once, here): locked, written and replaced."""
        self.pending_path = self.path.with_name(self.path.name + ".pending")
        self._lock = filelock.FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self._make_directory()
        try:
            with self._lock:
                yield
        except filelock.Timeout:
            raise AuthError(
                f"Timed out waiting for the token store lock {self._lock.lock_file}; "
                "another process holds it"
            ) from None
        except OSError as exc:
            if exc.filename != self._lock.lock_file:
                raise
            raise self._unusable(exc) from None

    def read(self) -> TokenSet | None:
        """The stored tokens; under the lock, first completes a write cut short by a crash."""
        if self._lock.is_locked:
            self._recover()
        return self._parse(self.path)

    def write(self, tokens: TokenSet) -> None:
        """Pending file (fsync'd), renamed over the store, directory fsync'd."""
        self._make_directory()
        data = json.dumps(tokens.to_json()).encode("utf-8")
        try:
            fd = os.open(self.pending_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise self._unusable(exc) from None
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.pending_path, self.path)
        _fsync_directory(self.path.parent)

    # -- internals ----------------------------------------------------------------------

    def _recover(self) -> None:
        """A pending file is newer than the store: finish its rename, or drop it if torn."""
        try:
            pending = self._parse(self.pending_path)
        except AuthError:
            log.warning("Dropping %s: a process was killed while writing it", self.pending_path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pending_path)
            return
        if pending is None:
            return
        log.warning("Recovering the tokens a killed process received (%s)", self.pending_path)
        os.replace(self.pending_path, self.path)
        _fsync_directory(self.path.parent)

    def _parse(self, path: Path) -> TokenSet | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except NotADirectoryError as exc:
            raise self._unusable(exc) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthError(
                f"The token store {path} cannot be read ({exc}); fix its permissions or "
                "run `exact-online login`"
            ) from None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            problem = "it is not valid JSON"
        else:
            try:
                return TokenSet.from_json(data)
            except ValueError as exc:
                problem = str(exc)
        raise AuthError(
            f"The token store {path} is not a valid token file ({problem}); "
            "restore it or run `exact-online login`"
        )

    def _make_directory(self) -> None:
        blocker = blocked_by_file(self.path)
        if blocker is not None:
            raise ConfigError("token_store", f"{self.path} cannot be used: {blocker} is a "
                              "file, not a directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise self._unusable(exc) from None

    def _unusable(self, exc: OSError) -> ConfigError:
        return ConfigError(
            "token_store", f"{self.path} cannot be used ({exc.strerror or exc}): its directory "
            f"{self.path.parent} must be a directory you can write to"
        )


def open_token_store(location: Path | DatabaseLocation, *, client_id: str) -> TokenStore:
    """The store a ``token_store`` setting names: a file, or a row of a PostgreSQL table
    (named by the URL's ``#fragment``, else ``client_id``)."""
    if isinstance(location, DatabaseLocation):
        from exact_online_core.token_store_postgres import PostgresTokenStore

        return PostgresTokenStore(location, row=location.row or client_id)
    return FileTokenStore(location)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "ORIGIN_LOGIN",
    "ORIGIN_SEED",
    "REFRESH_NOT_BEFORE",
    "FileTokenStore",
    "TokenSet",
    "TokenStore",
    "open_token_store",
]
