"""Exact's OAuth2: registered apps, authorization codes, rotating refresh tokens, access tokens.

Token-endpoint answers (OAuth-style bodies ``{"error", "error_description"}``):

- unknown client or wrong secret: 400 ``{"error":"invalid_request"}`` (picqer#553).
- refresh too early (< 570 s after the access token issued together with the presented
  refresh token): 400 ``access_denied``
  "Rate limit exceeded: access_token not expired" with
  ``Reason: TooEarlyToRefreshTokens: …``; the refresh token is not consumed (websmurf#31).
- refresh token already rotated: 401 ``unauthorized_client`` "Old refresh token used."
  (the real body in picqer#300, #640, #644; chosen over the uncertain ``invalid_grant``).
  "Rotated" as invantive describes Exact's rule (exact-api.md §1.4, [likely]): a used
  refresh token stays valid for 10 minutes after its first use, and the first use of a
  newer refresh token *or of its access token* expires every refresh token issued before
  it. So a client that died before it received (or stored) the answer to its refresh can
  refresh again with the same token, as long as nobody used the tokens it lost.
- refresh token never issued, or revoked: 400 ``invalid_grant`` "The refresh token is
  invalid." [uncertain text].
- refresh token unused 30 days: 400 ``invalid_request`` "The refresh token expired at … and
  it is now …." (websmurf#23).
- authorization code reused, expired, unknown or redirect mismatch: 400 ``invalid_grant``.
- more than ``token_daily`` (200) token calls per app per UTC day: 400 ``access_denied`` with
  ``Reason: TooManyTokenRequests: …`` [uncertain].

Tokens are stored as SHA-256 digests only; they never appear in logs or state dumps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exact_online_sandbox.clock import Clock
from exact_online_sandbox.errors import ExactApiError
from exact_online_sandbox.ratelimit import RateLimiter, day_start
from exact_online_sandbox.store import Store

ACCESS_TOKEN_LIFETIME = 600
REFRESH_NOT_BEFORE = 570
REFRESH_TOKEN_LIFETIME = 30 * 86400
USED_REFRESH_TOKEN_GRACE = 600
"""Seconds a used refresh token stays valid while its successors are unused (§1.4)."""
CODE_LIFETIME = 180
INITIAL_REFRESH_TOKEN = "sandbox-initial-refresh-token"
DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEFAULT_WEBHOOK_SECRET = "sandbox-webhook-secret"
CRM_READER_CLIENT_ID = "sandbox-crm-reader"

# The App Center scope catalogue (exact-api.md §1.7): <area>.<scope>
SCOPE_CATALOGUE: tuple[str, ...] = tuple(
    f"{area}.{scope}"
    for area, scopes in {
        "crm": "accounts marketing opportunities quotes",
        "sales": "orders invoices contracts prices",
        "purchase": "orders invoices contracts prices",
        "logistics": "items inventory distribution wms assembly",
        "manufacturing": "products production shopfloor",
        "projects": "projects planning billing",
        "financial": "currencies costcenters generalledgers accounting cashflow receivables "
        "payables returns assets budgets",
        "organization": "administration documents workflow search officeapp extensibility "
        "googleworkspace conversion",
        "accountancy": "practicemanagement processmanagement",
        "communication": "mailboxes",
        "hrm": "employees payroll",
    }.items()
    for scope in scopes.split()
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sb_apps (
    client_id TEXT PRIMARY KEY, client_secret TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    webhook_secret TEXT NOT NULL, scopes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sb_codes (
    code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sb_grants (
    grant_id INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL,
    created_at REAL NOT NULL, last_access_at REAL
);
CREATE TABLE IF NOT EXISTS sb_rotating_tokens (
    token_hash TEXT PRIMARY KEY, grant_id INTEGER NOT NULL, issue INTEGER NOT NULL,
    issued_at REAL NOT NULL, with_access INTEGER NOT NULL, used_at REAL,
    expired INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sb_bearer_tokens (
    token_hash TEXT PRIMARY KEY, grant_id INTEGER NOT NULL, client_id TEXT NOT NULL,
    issue INTEGER NOT NULL, expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sb_token_calls (
    client_id TEXT NOT NULL, day INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (client_id, day)
);
"""


@dataclass(frozen=True)
class App:
    client_id: str
    client_secret: str
    redirect_uri: str
    webhook_secret: str
    scopes: tuple[str, ...]

    def allows(self, scope: str, method: str) -> bool:
        """``manage`` implies ``read``; GET needs read, every other method manage."""
        if f"{scope}:manage" in self.scopes:
            return True
        return method == "GET" and f"{scope}:read" in self.scopes

    def public(self) -> dict[str, Any]:
        """The app without its secrets (for the control API)."""
        return {"client_id": self.client_id, "redirect_uri": self.redirect_uri,
                "scopes": list(self.scopes)}


@dataclass(frozen=True)
class TokenGrant:
    """What a valid access token stands for."""

    client_id: str
    grant_id: int
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _exact_time(epoch: float) -> str:
    """Exact's US-style timestamp: ``10/11/2022 9:18:20 PM``."""
    t = dt.datetime.fromtimestamp(epoch, dt.UTC)
    hour = t.hour % 12 or 12
    ampm = "AM" if t.hour < 12 else "PM"
    return f"{t.month}/{t.day}/{t.year} {hour}:{t.minute:02d}:{t.second:02d} {ampm}"


def _new_access_token() -> str:
    return "gAAAA" + secrets.token_urlsafe(400)


def _new_refresh_token() -> str:
    return secrets.token_urlsafe(3) + "!" + secrets.token_urlsafe(200)


def _invalid_client() -> ExactApiError:
    return ExactApiError(400, "", oauth_error="invalid_request")


class OAuth:
    """Apps, codes and tokens, persisted in the store; times come from the sandbox clock."""

    def __init__(self, store: Store, clock: Clock, limiter: RateLimiter) -> None:
        self._store = store
        self._clock = clock
        self._limiter = limiter
        store.ensure_schema(_SCHEMA)
        with store.transaction() as conn:
            empty = conn.execute("SELECT COUNT(*) FROM sb_apps").fetchone()[0] == 0
        if empty:
            self.reset()

    # ---- apps --------------------------------------------------------------------------

    def reset(self, extra_scopes: Iterable[str] = ()) -> None:
        """Wipe apps, codes and tokens; register the default apps and the initial token."""
        with self._store.transaction() as conn:
            for table in ("sb_apps", "sb_codes", "sb_grants", "sb_rotating_tokens",
                          "sb_bearer_tokens", "sb_token_calls"):
                conn.execute(f"DELETE FROM {table}")
        all_scopes = sorted({*SCOPE_CATALOGUE, *extra_scopes})
        self.register_app(App(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI,
                              DEFAULT_WEBHOOK_SECRET,
                              tuple(f"{s}:manage" for s in all_scopes)))
        self.register_app(App(CRM_READER_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI,
                              DEFAULT_WEBHOOK_SECRET, ("crm.accounts:read",)))
        self._new_grant(DEFAULT_CLIENT_ID, refresh_token=INITIAL_REFRESH_TOKEN)

    def register_app(self, app: App) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sb_apps VALUES (?, ?, ?, ?, ?)",
                (app.client_id, app.client_secret, app.redirect_uri, app.webhook_secret,
                 json.dumps(list(app.scopes))),
            )

    def app(self, client_id: str) -> App | None:
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT client_id, client_secret, redirect_uri, webhook_secret, scopes "
                "FROM sb_apps WHERE client_id = ?", (client_id,)).fetchone()
        if row is None:
            return None
        return App(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])))

    def apps(self) -> list[App]:
        with self._store.transaction() as conn:
            ids = [r[0] for r in conn.execute("SELECT client_id FROM sb_apps ORDER BY 1")]
        return [a for a in (self.app(i) for i in ids) if a is not None]

    # ---- authorization endpoint -------------------------------------------------------

    def authorize(self, client_id: str, redirect_uri: str) -> str:
        """Auto-approve consent and return a fresh single-use code (ValueError if refused)."""
        app = self.app(client_id)
        if app is None:
            raise ValueError("unknown client_id")
        if redirect_uri != app.redirect_uri:
            raise ValueError("redirect_uri does not match the app's registered redirect URI")
        code = secrets.token_urlsafe(48)
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO sb_codes VALUES (?, ?, ?, ?, 0)",
                         (_digest(code), client_id, redirect_uri,
                          self._clock.now() + CODE_LIFETIME))
        return code

    # ---- token endpoint ----------------------------------------------------------------

    def token(self, form: dict[str, str]) -> dict[str, str]:
        """Answer a token-endpoint POST (form fields); raises ExactApiError(oauth) when refused."""
        grant_type = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        app = self.app(client_id)
        if app is None or not hmac.compare_digest(
                app.client_secret.encode(), form.get("client_secret", "").encode()):
            raise _invalid_client()
        self._count_token_call(client_id)
        if grant_type == "authorization_code":
            return self._exchange_code(app, form.get("code", ""), form.get("redirect_uri", ""))
        if grant_type == "refresh_token":
            return self._refresh(app, form.get("refresh_token", ""))
        raise ExactApiError(400, "The grant type is not supported.",
                            oauth_error="unsupported_grant_type")

    def _count_token_call(self, client_id: str) -> None:
        limit = self._limiter.limits().token_daily
        day = day_start(self._clock.now())
        with self._store.transaction() as conn:
            row = conn.execute("SELECT count FROM sb_token_calls WHERE client_id = ? AND day = ?",
                               (client_id, day)).fetchone()
            count = int(row[0]) if row else 0
            if count >= limit:
                message = "Rate limit exceeded: too many token requests today"
                raise ExactApiError(400, message, oauth_error="access_denied",
                                    reason=f"TooManyTokenRequests: {message}")
            conn.execute("INSERT OR REPLACE INTO sb_token_calls VALUES (?, ?, ?)",
                         (client_id, day, count + 1))

    def _exchange_code(self, app: App, code: str, redirect_uri: str) -> dict[str, str]:
        now = self._clock.now()
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT client_id, redirect_uri, expires_at, used FROM sb_codes "
                "WHERE code_hash = ?", (_digest(code),)).fetchone()
            if row is not None:
                conn.execute("UPDATE sb_codes SET used = 1 WHERE code_hash = ?", (_digest(code),))
        if row is None or row[3] or row[0] != app.client_id:
            raise ExactApiError(400, "The authorization code is invalid or was already used.",
                                oauth_error="invalid_grant")
        if now > float(row[2]):
            raise ExactApiError(400, "The authorization code has expired.",
                                oauth_error="invalid_grant")
        if redirect_uri != row[1]:
            raise ExactApiError(400, "The redirect_uri does not match.",
                                oauth_error="invalid_grant")
        grant_id = self._new_grant(app.client_id)
        return self._issue(grant_id, app.client_id)

    def _refresh(self, app: App, refresh_token: str) -> dict[str, str]:
        now = self._clock.now()
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT t.grant_id, t.issue, t.issued_at, t.with_access, t.used_at, t.expired, "
                "g.client_id FROM sb_rotating_tokens t JOIN sb_grants g "
                "ON g.grant_id = t.grant_id WHERE t.token_hash = ?",
                (_digest(refresh_token),)).fetchone()
            if row is None or row[6] != app.client_id:
                raise ExactApiError(400, "The refresh token is invalid.",
                                    oauth_error="invalid_grant")
            grant_id, issue, issued_at, with_access, used_at, expired, _client = row
            if expired or (used_at is not None
                           and now > float(used_at) + USED_REFRESH_TOKEN_GRACE):
                raise ExactApiError(401, "Old refresh token used.",
                                    oauth_error="unauthorized_client")
            expires_at = float(issued_at) + REFRESH_TOKEN_LIFETIME
            if now > expires_at:
                raise ExactApiError(
                    400,
                    f"The refresh token expired at {_exact_time(expires_at)} "
                    f"and it is now {_exact_time(now)}.",
                    oauth_error="invalid_request")
            if with_access and now < float(issued_at) + REFRESH_NOT_BEFORE:
                message = "Rate limit exceeded: access_token not expired"
                raise ExactApiError(400, message, oauth_error="access_denied",
                                    reason=f"TooEarlyToRefreshTokens: {message}")
            if used_at is None:
                conn.execute("UPDATE sb_rotating_tokens SET used_at = ? WHERE token_hash = ?",
                             (now, _digest(refresh_token)))
                self._expire_before(conn, int(grant_id), int(issue))
            return self._issue(int(grant_id), app.client_id)

    @staticmethod
    def _expire_before(conn: sqlite3.Connection, grant_id: int, issue: int) -> None:
        """A token of ``issue`` was used for the first time: every earlier refresh token of
        the grant expires (exact-api.md §1.4)."""
        conn.execute("UPDATE sb_rotating_tokens SET expired = 1 "
                     "WHERE grant_id = ? AND issue < ? AND expired = 0", (grant_id, issue))

    def _new_grant(self, client_id: str, refresh_token: str | None = None) -> int:
        """A consent: a grant with one refresh token (issue 0) and no access token yet."""
        now = self._clock.now()
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO sb_grants (client_id, created_at, last_access_at) VALUES (?, ?, NULL)",
                (client_id, now))
            grant_id = int(cur.lastrowid or 0)
            if refresh_token is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO sb_rotating_tokens "
                    "(token_hash, grant_id, issue, issued_at, with_access) VALUES (?, ?, 0, ?, 0)",
                    (_digest(refresh_token), grant_id, now))
        return grant_id

    def _issue(self, grant_id: int, client_id: str) -> dict[str, str]:
        """A new access token and refresh token of the grant's next issue. Earlier refresh
        tokens stay valid until a token of this issue is used (or their 10 minutes pass)."""
        now = self._clock.now()
        access, refresh = _new_access_token(), _new_refresh_token()
        with self._store.transaction() as conn:
            last = conn.execute("SELECT MAX(issue) FROM sb_rotating_tokens WHERE grant_id = ?",
                                (grant_id,)).fetchone()[0]
            issue = int(last) + 1 if last is not None else 1
            conn.execute(
                "INSERT INTO sb_rotating_tokens "
                "(token_hash, grant_id, issue, issued_at, with_access) VALUES (?, ?, ?, ?, 1)",
                (_digest(refresh), grant_id, issue, now))
            conn.execute(
                "INSERT INTO sb_bearer_tokens (token_hash, grant_id, client_id, issue, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (_digest(access), grant_id, client_id, issue, now + ACCESS_TOKEN_LIFETIME))
            conn.execute("UPDATE sb_grants SET last_access_at = ? WHERE grant_id = ?",
                         (now, grant_id))
            conn.execute("DELETE FROM sb_bearer_tokens WHERE expires_at < ?", (now - 86400,))
        return {"access_token": access, "token_type": "bearer",
                "expires_in": str(ACCESS_TOKEN_LIFETIME), "refresh_token": refresh}

    # ---- API side and control helpers -------------------------------------------------

    def authenticate(self, access_token: str) -> TokenGrant | None:
        """The grant behind a bearer token, or None when unknown, revoked or expired. The
        first use of an access token expires the refresh tokens issued before it."""
        if not access_token:
            return None
        digest = _digest(access_token)
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT client_id, grant_id, expires_at, issue, used FROM sb_bearer_tokens "
                "WHERE token_hash = ?", (digest,)).fetchone()
        if row is None or self._clock.now() >= float(row[2]):
            return None
        if not row[4]:
            with self._store.transaction() as conn:
                conn.execute("UPDATE sb_bearer_tokens SET used = 1 WHERE token_hash = ?",
                             (digest,))
                self._expire_before(conn, int(row[1]), int(row[3]))
        return TokenGrant(row[0], int(row[1]), float(row[2]))

    def token_owner(self, access_token: str) -> str | None:
        """The client id an access token was issued to, expired or not (None: unknown)."""
        if not access_token:
            return None
        with self._store.reading() as conn:
            row = conn.execute("SELECT client_id FROM sb_bearer_tokens WHERE token_hash = ?",
                               (_digest(access_token),)).fetchone()
        return None if row is None else str(row[0])

    def refresh_token_state(self, refresh_token: str) -> str:
        """``unused`` (never used, not expired by a newer one), ``used`` (used, still in its
        10 minutes and not superseded), ``old`` (refused: "Old refresh token used") or
        ``unknown``; the 570 s and 30-day rules aside. For tests."""
        now = self._clock.now()
        with self._store.reading() as conn:
            row = conn.execute("SELECT used_at, expired FROM sb_rotating_tokens "
                               "WHERE token_hash = ?", (_digest(refresh_token),)).fetchone()
        if row is None:
            return "unknown"
        used_at, expired = row
        if expired or (used_at is not None and now > float(used_at) + USED_REFRESH_TOKEN_GRACE):
            return "old"
        return "unused" if used_at is None else "used"

    def mint_grant(self, client_id: str) -> str:
        """A fresh refresh token as if the user had just consented (no access token yet)."""
        if self.app(client_id) is None:
            raise ValueError(f"unknown client_id {client_id!r}")
        token = _new_refresh_token()
        self._new_grant(client_id, refresh_token=token)
        return token

    def revoke(self, client_id: str) -> int:
        """The user withdrew consent: every token of the app stops working. Returns grants."""
        with self._store.transaction() as conn:
            grants = [r[0] for r in conn.execute(
                "SELECT grant_id FROM sb_grants WHERE client_id = ?", (client_id,))]
            for grant_id in grants:
                conn.execute("DELETE FROM sb_rotating_tokens WHERE grant_id = ?", (grant_id,))
            conn.execute("DELETE FROM sb_bearer_tokens WHERE client_id = ?", (client_id,))
            conn.execute("DELETE FROM sb_grants WHERE client_id = ?", (client_id,))
        return len(grants)
