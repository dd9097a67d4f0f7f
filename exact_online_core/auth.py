"""OAuth2 token broker: one rotating refresh token, safely shared by every process.

Exact Online rotates the refresh token on every refresh and rejects the old one, refuses a
refresh earlier than 570 s after the previous access token was issued, and lets an access
token live 600 s. So every process that uses one login (tap, target, CLI, parallel jobs)
goes through a :class:`TokenBroker` over one :class:`TokenStore`: under a cross-process
lock it re-reads the store (another process may have rotated already), refreshes only when
it must, and persists the new refresh token before anyone uses the new access token.

That order is what makes a crash survivable: Exact keeps a used refresh token valid for 10
minutes until the first use of a newer refresh token or of its access token (exact-api.md
§1.4). A process killed while its refresh is in flight leaves the store holding the token
it sent, which nobody has superseded, so the next process simply refreshes again with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from exact_online_core.config import ExactConfig
from exact_online_core.errors import AuthError, LoginRequiredError, TransportError
from exact_online_core.secrets import Secret
from exact_online_core.token_store import (
    ACCESS_TOKEN_LIFETIME,
    ORIGIN_LOGIN,
    ORIGIN_SEED,
    REFRESH_NOT_BEFORE,
    FileTokenStore,
    TokenSet,
    TokenStore,
    open_token_store,
)

log = logging.getLogger(__name__)


def fingerprint(secret: Secret) -> str:
    """A one-way, non-reversible tag of a token, safe to store and compare."""
    return hashlib.sha256(secret.reveal().encode()).hexdigest()[:16]


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
        self._said_seed_ignored = False
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
        with self._locked():
            tokens = self._load()
            if tokens.fresh(self._clock()) and tokens.access_token is not None:
                self._cached = tokens
                return tokens.access_token.reveal()
            return self._refresh(tokens).reveal()

    def after_unauthorized(self, rejected: str) -> str:
        """Exact answered 401 to ``rejected``: take a newer token or refresh, once."""
        with self._locked():
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
        with self._locked():
            payload = self._post_token(
                {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
                grant="authorization code",
            )
            # A login is newer than any configured refresh token: none ever replaces it.
            tokens = self._received(payload, previous=None)
            self.store.write(tokens)
            self._cached = tokens
            return tokens

    def forget(self) -> None:
        """Drop the in-memory copy so the next call re-reads the store."""
        self._cached = None

    # -- internals ------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's lock; when releasing it fails (a database store commits then), the
        tokens kept in memory may not be durable, so they are dropped, never used."""
        try:
            with self.store.lock():
                yield
        except BaseException:
            self._cached = None
            raise

    @property
    def _store_name(self) -> str:
        return str(getattr(self.store, "path", self.store))

    def _load(self) -> TokenSet:
        """The store's tokens, seeding it from the configured refresh token when allowed."""
        tokens = self.store.read()
        if tokens is not None and tokens.client_id not in (None, self.client_id):
            raise AuthError(
                f"The token store {self._store_name} holds tokens of "
                f"another app (client_id {tokens.client_id}); use one token store per app"
            )
        if self._seed is not None and self._may_seed(tokens, fingerprint(self._seed)):
            if tokens is not None:
                log.info("A new refresh token was configured; it replaces the stored one")
            seed_tag = fingerprint(self._seed)
            used = tokens.used_seeds if tokens is not None else ()
            tokens = TokenSet(
                refresh_token=self._seed,
                client_id=self.client_id,
                seed_fingerprint=seed_tag,
                origin=ORIGIN_SEED,
                used_seeds=(*used, seed_tag),
            )
            self.store.write(tokens)
        if tokens is None:
            raise LoginRequiredError(
                f"No Exact Online tokens yet in {self._store_name} and no refresh_token configured"
            )
        return tokens

    def _may_seed(self, tokens: TokenSet | None, seed_tag: str) -> bool:
        """A configured refresh token seeds an empty store, or replaces a chain seeded from
        another configured token, once. It never replaces a login, and a token the store
        was ever seeded from is never sent again (Exact rotated it: "Old refresh token used")."""
        if tokens is None:
            return True
        if tokens.from_login:
            if not self._said_seed_ignored:
                self._said_seed_ignored = True
                log.info("The configured refresh_token is ignored: the token store %s holds a "
                         "login (exact-online login), which is newer", self._store_name)
            return False
        return seed_tag != tokens.seed_fingerprint and seed_tag not in tokens.used_seeds

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
        new = self._received(payload, previous=tokens)
        self.store.write(new)
        self._cached = new
        self.refreshes += 1
        log.info("Refreshed the Exact Online access token (store %s)", self._store_name)
        assert new.access_token is not None
        return new.access_token

    def _received(self, payload: dict[str, Any], *, previous: TokenSet | None) -> TokenSet:
        """The token set from a token-endpoint answer; ``previous`` None for a login."""
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
        received = TokenSet(
            refresh_token=Secret(refresh),
            access_token=Secret(access),
            issued_at=self._clock(),  # after the answer: our age never under-counts Exact's
            expires_in=expires_in,
            client_id=self.client_id,
            origin=ORIGIN_LOGIN,
        )
        if previous is None:
            return received
        return dataclasses.replace(
            previous,
            refresh_token=received.refresh_token,
            access_token=received.access_token,
            issued_at=received.issued_at,
            expires_in=received.expires_in,
            client_id=self.client_id,
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
                    allow_redirects=False,  # the refresh token and secret go nowhere else
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
        if response.is_redirect or 300 <= response.status_code < 400:
            raise AuthError(
                f"The token endpoint answered {response.status_code} with a redirect to "
                f"{_where(response.headers.get('Location'), self.token_url)}; not followed, so "
                f"the {grant} and the client secret are only ever sent to {self.token_url}. "
                "Check base_url (or region)",
                method="POST",
                endpoint="oauth2/token",
                status=response.status_code,
            )
        return _token_payload(response, grant)


def _where(location: str | None, base: str) -> str:
    """Scheme, host and path of a redirect target (never its query: it may carry a code)."""
    if not location:
        return "(no Location)"
    parts = urlsplit(urljoin(base, location))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


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
        store=open_token_store(config.token_store, client_id=config.client_id),
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
