"""Stop before Exact blocks the app: refused calls per endpoint and division, counted for an hour.

Exact Online blocks an app for an hour (longer when it happens again) once it makes more than
10 calls that fail with 400, 401, 403 or 404 on one endpoint in one division within an hour.
A run that keeps sending bad records would lock the app out for every connector sharing it
(the tap too). Each refusal is kept in the ledger with its time, so earlier runs count; once
``error_limit`` refusals are within the hour the run stops with a message saying when it is
safe to go on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from exact_online_core.errors import ExactError
from target_exact_online.ledger import ERROR_WINDOW, Ledger

REFUSED = frozenset({400, 401, 403, 404})
"""The statuses Exact counts towards its block."""
EXACT_LIMIT = 10
DEFAULT_LIMIT = 8
"""Two below Exact's limit: room for the tap or the CLI sharing the app in the same hour."""

_KEY = re.compile(r"\(.*?\)")


def endpoint_of(path: str) -> str:
    """``crm/Accounts(guid'…')?$select=ID`` → ``crm/Accounts``: Exact counts per endpoint."""
    return _KEY.sub("", path.split("?", 1)[0]).strip("/")


class ErrorGuard:
    """Counts Exact's refusals in the ledger and says when a run must stop."""

    def __init__(self, ledger: Ledger, limit: int = DEFAULT_LIMIT,
                 clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.limit = limit
        self.clock = clock

    def record(self, error: ExactError) -> None:
        """Remember a refusal Exact counts (the cause of a failed read-back counts too)."""
        cause = error.__cause__
        if error.endpoint is None and isinstance(cause, ExactError):
            error = cause
        if (self.limit <= 0 or error.status not in REFUSED or error.endpoint is None
                or error.division is None):
            return
        self.ledger.record_error(endpoint_of(error.endpoint), error.division, error.status,
                                 at=self.clock())

    def spent(self, endpoint: str, division: int) -> str | None:
        """Why no call may go to ``endpoint`` in ``division`` now, or None when it may."""
        if self.limit <= 0:
            return None
        endpoint = endpoint_of(endpoint)
        times = self.ledger.recent_error_times(endpoint, division, now=self.clock())
        if len(times) < self.limit:
            return None
        resume = datetime.fromtimestamp(times[len(times) - self.limit] + ERROR_WINDOW, UTC)
        return (
            f"stopped before Exact Online blocks this app: {len(times)} calls to {endpoint} "
            f"in division {division} were refused (400/401/403/404) within the last hour, "
            f"earlier runs included, and Exact blocks an app for an hour or more once over "
            f"{EXACT_LIMIT} refused calls per endpoint and division. Nothing more was sent "
            f"there. Fix the records the results file lists as failed and run again after "
            f"{resume:%Y-%m-%d %H:%M} UTC, or change error_limit (now {self.limit}; 0 turns "
            "this guard off)"
        )
