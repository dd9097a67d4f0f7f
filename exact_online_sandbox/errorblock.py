"""Exact's error block: more than 10 refused calls an hour on one endpoint blocks the app there.

Exact Online's limits since July 2021 allow at most 10 errors (responses 400, 401, 403 and 404)
per API key, user, company, endpoint and hour; going over blocks the key for an hour, longer
when it happens again (Exact's announcement as Invantive's forum and vendors relay it).

How the sandbox reads it:

- **Who**: an app (client id) in a division on an endpoint. The sandbox has one user, so
  "per user" adds nothing. A 401 counts for the app whose access token it was (an expired or
  outdated token is still known for a day); a call with no token or an unknown one cannot be
  attributed to any app and counts for none.
- **Endpoint**: the path after the division with keys, query and case dropped, the way the
  target's guard (``endpoint_of``) and the call log (``call_key``) name it:
  ``/api/v1/100001/CRM/Accounts(guid'…')?$select=ID`` → ``crm/accounts``; a navigation
  ``SalesInvoices(guid'…')/SalesInvoiceLines`` → ``salesinvoice/salesinvoices/
  salesinvoicelines``. The method is not part of it (Exact says per endpoint). Only
  ``/api/v1/{division}/…`` calls count: ``current/Me`` and the token endpoint name no company.
- **What counts**: answers the sandbox itself gives with 400, 401, 403 or 404. Injected faults
  (``faults.py``) never count: they are the test's doing, not the client's error.
- **Hour**: rolling: a refusal counts for 3600 s of sandbox time from when it was answered.
  Exact's "per hour" does not say fixed or rolling; rolling is the stricter reading (any 60
  minutes holding more than 10 refusals block), so a client that stays clear here stays clear
  of a fixed-hour Exact too, and it is how the target's guard counts.
- **The block**: the refusal that exceeds the limit (the 11th within the hour) is answered
  with the block instead, and from then on every call of that app in that division to that
  endpoint is, for 3600 s of sandbox time. The block answers right after the token is
  checked: calls it answers are not counted again and do not use the call budget (a call
  with an expired token still gets its 401, which counts). Other endpoints and divisions go
  on as normal. Exact's longer blocks
  on repeat are not emulated (their lengths are not published).
- **The answer** (uncertain): ``429 Too Many Requests`` with Exact's OData error body
  ``{"error":{"code":"","message":{"lang":"","value":"…"}}}`` naming the endpoint and the time
  the block lifts, and no ``X-RateLimit-*`` headers (the call budget was not the reason).
  Exact's real status and body were never captured: the recordings hold none, and searches
  of picqer/exact-php-client's issues, Invantive's forums and vendors' help pages (2021-2025)
  quote the rule but not the answer. 429 was chosen because one vendor's help page shows the
  block surfacing as "API rate limit exceeded", and because a 400/401/403/404 would itself be
  a counted error, a block that feeds itself, which Exact's "lifted after one hour" rules out.

The limit is the control API's ``{"errors_hourly": 10}`` (``Sandbox.set_limits``); 0 turns the
block off. Counts and blocks live in SQLite with the rest of the sandbox, so a restart on the
same data directory keeps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from exact_online_sandbox.clock import Clock
from exact_online_sandbox.errors import ExactApiError
from exact_online_sandbox.store import Store

DEFAULT_ERRORS_HOURLY = 10
"""Exact's limit: at most this many refused calls an hour; the next one blocks."""
BLOCK_SECONDS = 3600.0
WINDOW_SECONDS = 3600.0
COUNTED = frozenset({400, 401, 403, 404})
BLOCK_STATUS = 429
assert BLOCK_STATUS not in COUNTED  # a block answer that counted would feed itself

_KEYS = re.compile(r"\([^)]*\)")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sb_error_limit (
    id INTEGER PRIMARY KEY CHECK (id = 1), hourly INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sb_error_events (
    client_id TEXT NOT NULL, division INTEGER NOT NULL, endpoint TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sb_error_events_key
    ON sb_error_events (client_id, division, endpoint, at);
CREATE TABLE IF NOT EXISTS sb_error_blocks (
    client_id TEXT NOT NULL, division INTEGER NOT NULL, endpoint TEXT NOT NULL,
    until REAL NOT NULL, PRIMARY KEY (client_id, division, endpoint)
);
"""


@dataclass(frozen=True)
class Target:
    """Where a call went, as Exact counts errors: the division and the endpoint."""

    division: int
    endpoint: str


def target_of(rest: str) -> Target | None:
    """``100001/CRM/Accounts(guid'…')`` (the path after ``/api/v1/``) → division and endpoint;
    None for a path without a division (``current/Me``)."""
    head, _, service = rest.partition("/")
    if head.lower() == "beta":  # beta/{division}/budget/BudgetScenarios
        head, _, tail = service.partition("/")
        service = f"beta/{tail}"
    if not head.isdigit():
        return None
    endpoint = _KEYS.sub("", service).strip("/").lower()
    return Target(int(head), endpoint) if endpoint else None


class ErrorBlock:
    """Counts refused calls per app, division and endpoint; blocks the app there when over."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        store.ensure_schema(_SCHEMA)
        with store.reading() as conn:
            row = conn.execute("SELECT MAX(until) FROM sb_error_blocks").fetchone()
        self._last_until = float(row[0]) if row and row[0] is not None else 0.0
        """When the last block lifts: calls after it skip the lookup (the hot path)."""

    def limit(self) -> int:
        with self._store.reading() as conn:
            row = conn.execute("SELECT hourly FROM sb_error_limit").fetchone()
        return DEFAULT_ERRORS_HOURLY if row is None else int(row[0])

    def set_limit(self, hourly: int) -> int:
        """Refused calls an hour allowed before the block (0: never block); counts are kept."""
        if hourly < 0:
            raise ValueError("errors_hourly must be >= 0")
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO sb_error_limit VALUES (1, ?)", (hourly,))
        return hourly

    def reset(self) -> None:
        """Forget every count and block; Exact's limit again."""
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sb_error_events")
            conn.execute("DELETE FROM sb_error_blocks")
            conn.execute("DELETE FROM sb_error_limit")
        self._last_until = 0.0

    def blocked(self, client_id: str, target: Target) -> ExactApiError | None:
        """The block answer when the app is blocked on this endpoint now, else None."""
        if self._last_until <= self._clock.now():
            return None
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT until FROM sb_error_blocks WHERE client_id = ? AND division = ? "
                "AND endpoint = ?", (client_id, target.division, target.endpoint)).fetchone()
        if row is None or float(row[0]) <= self._clock.now():
            return None
        return block_error(target, float(row[0]))

    def refused(self, client_id: str, target: Target, status: int) -> ExactApiError | None:
        """Count one refusal; the block answer when it is one too many (the block starts)."""
        if status not in COUNTED:
            return None
        limit = self.limit()
        if limit <= 0:
            return None
        now = self._clock.now()
        key = (client_id, target.division, target.endpoint)
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sb_error_events WHERE client_id = ? AND division = ? "
                         "AND endpoint = ? AND at <= ?", (*key, now - WINDOW_SECONDS))
            conn.execute("INSERT INTO sb_error_events VALUES (?, ?, ?, ?)", (*key, now))
            count = int(conn.execute(
                "SELECT COUNT(*) FROM sb_error_events WHERE client_id = ? AND division = ? "
                "AND endpoint = ?", key).fetchone()[0])
            if count <= limit:
                return None
            until = now + BLOCK_SECONDS
            conn.execute("INSERT OR REPLACE INTO sb_error_blocks VALUES (?, ?, ?, ?)",
                         (*key, until))
            self._last_until = max(self._last_until, until)
            conn.execute("DELETE FROM sb_error_events WHERE client_id = ? AND division = ? "
                         "AND endpoint = ?", key)
        return block_error(target, until)

    def state(self) -> list[dict[str, object]]:
        """Blocks in force now, for the control API."""
        now = self._clock.now()
        with self._store.reading() as conn:
            rows = conn.execute("SELECT client_id, division, endpoint, until FROM "
                                "sb_error_blocks WHERE until > ? ORDER BY until", (now,))
            return [{"client_id": r[0], "division": int(r[1]), "endpoint": r[2],
                     "until": float(r[3])} for r in rows.fetchall()]


def block_error(target: Target, until: float) -> ExactApiError:
    """The sandbox's block answer (status and wording uncertain: see the module docstring)."""
    lifted = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return ExactApiError(
        BLOCK_STATUS,
        f"Too many errors: this API key made more than the allowed number of failed calls "
        f"(400, 401, 403, 404) to {target.endpoint} in division {target.division} within an "
        f"hour and is blocked there until {lifted} UTC.")
