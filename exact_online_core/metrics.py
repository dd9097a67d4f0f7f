"""What each HTTP call to Exact cost, handed to whoever reports it (the tap's METRIC lines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestTiming:
    """One HTTP attempt: retries and 429 waits are attempts of their own."""

    method: str
    endpoint: str
    """The path below the division without record keys: ``crm/Accounts``, ``sync/Deleted``."""
    division: int | None
    """None for ``current/Me``, which has no division in its URL."""
    status: int | None
    """The HTTP status; None when no answer came (timeout, connection reset)."""
    seconds: float

    @property
    def succeeded(self) -> bool:
        return self.status is not None and self.status < 400


RequestObserver = Callable[[RequestTiming], None]
"""Called after every attempt; set on :attr:`exact_online_core.http.ExactClient.on_response`."""
