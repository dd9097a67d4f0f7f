"""OAuth2 token broker: one rotating refresh token, safely shared by every process.

Exact Online rotates the refresh token on every refresh and rejects the old one, refuses a
refresh earlier than 570 s after the previous access token was issued, and lets an access
token live 600 s. So every process that uses one login (tap, target, CLI, parallel jobs)
goes through a :class:`TokenBroker` over one :class:`TokenStore`: under a cross-process
lock it re-reads the store (another process may have rotated already), refreshes only when
it must, and persists the new refresh token before anyone uses the new access token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import filelock
import requests

from exact_online_core.config import ExactConfig
from exact_online_core.errors import AuthError, LoginRequiredError, TransportError
from exact_online_core.secrets import Secret

log = logging.getLogger(__name__)

ACCESS_TOKEN_LIFETIME = 600
"""Seconds an Exact access token lives, counted from issue."""

REFRESH_NOT_BEFORE = 570
"""Exact refuses a refresh earlier than this many seconds after the last issue."""

STORE_FORMAT = 1


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

    def age(self, now: float) -> float:
        return now - self.issued_at

    def usable(self, now: float) -> bool:
        """An access token exists and Exact still accepts it."""
        return self.access_token is not None and self.age(now) < self.expires_in

    def fresh(self, now: float) -> bool:
        """Usable and too young to refresh: the normal case between refreshes."""
        return self.access_token is not None and self.age(now) < REFRESH_NOT_BEFORE

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STORE_FORMAT,
            "client_id": self.client_id,
            "refresh_token": self.refresh_token.reveal(),
            "access_token": self.access_token.reveal() if self.access_token else None,
            "issued_at": self.issued_at,
            "expires_in": self.expires_in,
            "seed_fingerprint": self.seed_fingerprint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenSet:
        access = data.get("access_token")
        return cls(
            refresh_token=Secret(str(data["refresh_token"])),
            access_token=Secret(access) if access else None,
            issued_at=float(data.get("issued_at") or 0.0),
            expires_in=int(data.get("expires_in") or ACCESS_TOKEN_LIFETIME),
            client_id=data.get("client_id"),
            seed_fingerprint=data.get("seed_fingerprint"),
        )


def fingerprint(secret: Secret) -> str:
    """A one-way, non-reversible tag of a token, safe to store and compare."""
    return hashlib.sha256(secret.reveal().encode()).hexdigest()[:16]


class TokenStore(Protocol):
    """Durable home of one login's tokens, shared by processes.

    Implementations: :class:`FileTokenStore`; others (a secret manager, a database) only
    need a cross-process lock and atomic reads and writes.
    """

    def lock(self) -> contextlib.AbstractContextManager[None]: ...

    def read(self) -> TokenSet | None: ...

    def write(self, tokens: TokenSet) -> None: ...


class FileTokenStore:
    """A JSON file, mode 0600, replaced atomically, guarded by ``<file>.lock``."""

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 300.0) -> None:
        self.path = Path(path).expanduser()
        self._lock = filelock.FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with self._lock:
                yield
        except filelock.Timeout:
            raise AuthError(
                f"Timed out waiting for the token store lock {self._lock.lock_file}; "
                "another process holds it"
            ) from None

    def read(self) -> TokenSet | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            return TokenSet.from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError(
                f"The token store {self.path} is not a valid token file ({type(exc).__name__}); "
                "restore it or run `exact-online login`"
            ) from None

    def write(self, tokens: TokenSet) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(tokens.to_json(), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


Clock = Callable[[], float]


class TokenBroker:
    """Hands out valid access tokens, refreshing only when Exact allows and requires it."""

    def __init__(
        self,
        *,
        store: TokenStore,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        redirect_uri: str | None = None,
        initial_refresh_token: Secret | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.time,
        timeout: float = 60.0,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._seed = initial_refresh_token
        self._session = session or requests.Session()
        self._clock = clock
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._sleep = sleep
        self._cached: TokenSet | None = None
        self.refreshes = 0
        """How many refreshes this broker made (for tests and benchmarks)."""

    def __repr__(self) -> str:
        return f"TokenBroker(client_id={self.client_id!r}, store={self.store!r})"

    # -- public API -----------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token; refreshes only once the current one is 570 s old."""
        now = self._clock()
        cached = self._cached
        if cached is not None and cached.fresh(now) and cached.access_token is not None:
            return cached.access_token.reveal()
        with self.store.lock():
            tokens = self._load()
            if tokens.fresh(self._clock()) and tokens.access_token is not None:
                self._cached = tokens
                return tokens.access_token.reveal()
            return self._refresh(tokens).reveal()

    def after_unauthorized(self, rejected: str) -> str:
        """Exact answered 401 to ``rejected``: take a newer token or refresh, once."""
        with self.store.lock():
            tokens = self._load()
            current = tokens.access_token
            rotated_elsewhere = current is not None and current.reveal() != rejected
            if rotated_elsewhere and current is not None and tokens.usable(self._clock()):
                self._cached = tokens
                return current.reveal()
            return self._refresh(tokens, after_401=True).reveal()

    def exchange_code(self, code: str, redirect_uri: str | None = None) -> TokenSet:
        """Authorization-code grant (login): store and return the first token set."""
        redirect = redirect_uri or self.redirect_uri
        if not redirect:
            raise AuthError("A redirect_uri is needed to exchange an authorization code")
        with self.store.lock():
            payload = self._post_token(
                {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
                grant="authorization code",
            )
            # A configured refresh token is now older than this login: never re-seed from it.
            seed = fingerprint(self._seed) if self._seed is not None else None
            tokens = self._token_set(payload, seed_fingerprint=seed)
            self.store.write(tokens)
            self._cached = tokens
            return tokens

    def forget(self) -> None:
        """Drop the in-memory copy so the next call re-reads the store."""
        self._cached = None

    # -- internals ------------------------------------------------------------------

    @property
    def _store_name(self) -> str:
        return str(getattr(self.store, "path", self.store))

    def _load(self) -> TokenSet:
        """The store's tokens, seeding an empty store from config once."""
        tokens = self.store.read()
        if tokens is not None and tokens.client_id not in (None, self.client_id):
            raise AuthError(
                f"The token store {self._store_name} holds tokens of "
                f"another app (client_id {tokens.client_id}); use one token store per app"
            )
        seed = self._seed
        if seed is not None:
            seed_tag = fingerprint(seed)
            if tokens is None or (
                tokens.seed_fingerprint != seed_tag and tokens.refresh_token != seed
            ):
                # An empty store, or the user configured a new refresh token (a new login).
                if tokens is not None:
                    log.info("A new refresh token was configured; it replaces the stored one")
                tokens = TokenSet(
                    refresh_token=seed, client_id=self.client_id, seed_fingerprint=seed_tag
                )
                self.store.write(tokens)
        if tokens is None:
            raise LoginRequiredError(
                f"No Exact Online tokens yet in {self._store_name} and no refresh_token configured"
            )
        return tokens

    def _refresh(self, tokens: TokenSet, *, after_401: bool = False) -> Secret:
        """Rotate under the held lock; persist before the new access token is used."""
        now = self._clock()
        try:
            payload = self._post_token(
                {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token.reveal()},
                grant="refresh token",
            )
        except _TooEarly as too_early:
            if tokens.access_token is not None and tokens.usable(now) and not after_401:
                log.info("Exact says the access token is not expired yet; keeping it")
                self._cached = tokens
                return tokens.access_token
            raise AuthError(
                "Exact rejected the access token but refuses a refresh before 570 s "
                "(access_token not expired); wait a few minutes and retry",
                status=400,
                exact_message=too_early.description,
                reason=too_early.reason,
                method="POST",
                endpoint="oauth2/token",
            ) from None
        new = self._token_set(payload, seed_fingerprint=tokens.seed_fingerprint)
        self.store.write(new)
        self._cached = new
        self.refreshes += 1
        log.info("Refreshed the Exact Online access token (store %s)", self._store_name)
        assert new.access_token is not None
        return new.access_token

    def _token_set(self, payload: dict[str, Any], *, seed_fingerprint: str | None) -> TokenSet:
        try:
            access = str(payload["access_token"])
            refresh = str(payload["refresh_token"])
            expires_in = int(str(payload.get("expires_in", ACCESS_TOKEN_LIFETIME)))
        except (KeyError, ValueError):
            raise AuthError(
                "The token endpoint answered without access_token/refresh_token/expires_in",
                method="POST",
                endpoint="oauth2/token",
            ) from None
        return TokenSet(
            refresh_token=Secret(refresh),
            access_token=Secret(access),
            issued_at=self._clock(),  # after the answer: our age never under-counts Exact's
            expires_in=expires_in,
            client_id=self.client_id,
            seed_fingerprint=seed_fingerprint,
        )

    def _post_token(self, form: dict[str, str], *, grant: str) -> dict[str, Any]:
        body = {
            **form,
            "client_id": self.client_id,
            "client_secret": self._client_secret.reveal(),
        }
        response: requests.Response | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._session.post(
                    self.token_url,
                    data=body,
                    headers={"Accept": "application/json"},
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                if attempt == self._attempts:
                    raise TransportError(
                        f"Could not reach the token endpoint to use the {grant} "
                        f"({type(exc).__name__})",
                        method="POST",
                        endpoint="oauth2/token",
                    ) from None
                self._sleep(2**attempt)
                continue
            if response.status_code >= 500 and attempt < self._attempts:
                self._sleep(2**attempt)
                continue
            break
        assert response is not None
        return _token_payload(response, grant)


class _TooEarly(Exception):
    def __init__(self, description: str, reason: str | None) -> None:
        super().__init__(description)
        self.description = description
        self.reason = reason


_RELOGIN_MARKERS = ("old refresh token", "refresh token expired", "expired at", "revoked")


def _token_payload(response: requests.Response, grant: str) -> dict[str, Any]:
    """The token endpoint's JSON, or the right error for what Exact said."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code == 200 and isinstance(data, dict):
        return data
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    description = str(data.get("error_description", "")) if isinstance(data, dict) else ""
    reason = response.headers.get("Reason")
    context: dict[str, Any] = {
        "method": "POST",
        "endpoint": "oauth2/token",
        "status": response.status_code,
        "exact_message": ": ".join(part for part in (error, description) if part) or None,
        "reason": reason,
    }
    text = f"{description} {reason or ''}".lower()
    if "not expired" in text or (reason or "").startswith("TooEarlyToRefreshTokens"):
        raise _TooEarly(description, reason)
    if response.status_code == 429:
        raise AuthError("The token endpoint's daily call limit is reached", **context)
    if grant == "refresh token" and (
        error in ("invalid_grant", "unauthorized_client")
        or any(marker in text for marker in _RELOGIN_MARKERS)
    ):
        raise LoginRequiredError(
            "Exact Online no longer accepts the stored refresh token "
            "(it was used already, expired after 30 days unused, or access was revoked)",
            **context,
        )
    if error == "invalid_request" and not description:
        raise AuthError(
            "Exact rejected the app credentials; check client_id and client_secret", **context
        )
    if grant == "authorization code":
        raise LoginRequiredError(
            "Exact rejected the authorization code (codes are single use and live 3 minutes)",
            **context,
        )
    raise AuthError(f"The token endpoint refused the {grant}", **context)


def broker_from_config(
    config: ExactConfig, *, session: requests.Session | None = None, clock: Clock = time.time
) -> TokenBroker:
    """The broker for an :class:`~exact_online_core.config.ExactConfig`."""
    return TokenBroker(
        store=FileTokenStore(config.token_store),
        token_url=config.token_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=config.redirect_uri,
        initial_refresh_token=config.refresh_token,
        session=session,
        clock=clock,
        timeout=config.timeout,
    )


__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_NOT_BEFORE",
    "FileTokenStore",
    "TokenBroker",
    "TokenSet",
    "TokenStore",
    "broker_from_config",
]
