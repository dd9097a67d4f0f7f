"""One exception hierarchy for everything that can go wrong talking to Exact Online.

Each error says what was called (method, endpoint, division), what Exact answered (status,
Exact's own message and ``Reason`` header) and, where it helps, what to do. No token,
secret or Authorization header is ever part of an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ExactError(Exception):
    """Base class: a call to Exact Online (or its configuration) failed."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        endpoint: str | None = None,
        division: int | None = None,
        status: int | None = None,
        exact_message: str | None = None,
        reason: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.method = method
        self.endpoint = endpoint
        self.division = division
        self.status = status
        self.exact_message = exact_message
        self.reason = reason
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        parts: list[str] = []
        if self.method and self.endpoint:
            where = f"{self.method} {self.endpoint}"
            if self.division is not None:
                where += f" (division {self.division})"
            parts.append(where + ":")
        parts.append(_sentence(self.message))
        if self.exact_message and self.exact_message not in self.message:
            parts.append(_sentence(f"Exact says: {self.exact_message}"))
        if self.reason and self.reason not in (self.exact_message or ""):
            parts.append(f"(Reason: {self.reason})")
        if self.hint:
            parts.append(_sentence(self.hint))
        return " ".join(parts)


def _sentence(text: str) -> str:
    """``text`` ending with a full stop, so joined parts read as sentences."""
    text = text.strip()
    return text if not text or text[-1] in ".!?:" else text + "."


class ConfigError(ExactError):
    """A setting is missing or invalid; ``setting`` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"Invalid setting '{setting}': {problem}")


class AuthError(ExactError):
    """The token endpoint refused us, or Exact rejected our access token."""


class LoginRequiredError(AuthError):
    """The refresh token is used, expired or revoked: only a new consent helps."""

    HINT = "Run `exact-online login` to sign in again and store a fresh refresh token."

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("hint", self.HINT)
        super().__init__(message, **kwargs)


class PermissionDeniedError(ExactError):
    """403: the app's scopes, the user's rights or the division do not allow this call."""


class NotFoundError(ExactError):
    """404: no such endpoint or record."""


class ValidationError(ExactError):
    """400/405/408: Exact rejected the request itself (bad field, filter, body)."""


class RateLimitError(ExactError):
    """429 answered and waiting for the reset did not help."""


class DailyLimitExceededError(RateLimitError):
    """The division's daily call budget is spent; stop cleanly and resume after reset."""

    def __init__(self, message: str, *, resets_at: datetime | None = None, **kwargs: Any) -> None:
        self.resets_at = resets_at
        if resets_at is not None:
            kwargs.setdefault(
                "hint", f"The daily budget resets at {resets_at.isoformat()}; resume after that."
            )
        super().__init__(message, **kwargs)


class ServerError(ExactError):
    """5xx from Exact after the retries ran out."""


class TransportError(ExactError):
    """Timeout or broken connection after the retries ran out.

    ``outcome_unknown`` is true for a write (POST) that may have reached Exact: it must not
    be re-sent blindly.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False, **kwargs: Any) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message, **kwargs)


class MalformedResponseError(ExactError):
    """Exact answered with a body that is not the JSON it documents."""


class ReadBackError(ExactError):
    """The write was applied and ``exact_id`` is known, but reading the stored record back
    failed: the record exists, do not write it again."""

    def __init__(self, message: str, *, exact_id: str, **kwargs: Any) -> None:
        self.exact_id = exact_id
        super().__init__(message, **kwargs)
