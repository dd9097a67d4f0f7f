"""Per-division call budget from Exact's X-RateLimit-* headers: wait a minute, never burn a day."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from exact_online_core.errors import DailyLimitExceededError

logger = logging.getLogger("exact_online_core.ratelimit")

DAILY_LIMIT = "X-RateLimit-Limit"
DAILY_REMAINING = "X-RateLimit-Remaining"
DAILY_RESET = "X-RateLimit-Reset"
MINUTELY_LIMIT = "X-RateLimit-Minutely-Limit"
MINUTELY_REMAINING = "X-RateLimit-Minutely-Remaining"
MINUTELY_RESET = "X-RateLimit-Minutely-Reset"


@dataclass
class _Window:
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # epoch seconds (Exact sends epoch milliseconds)

    def update(self, limit: int | None, remaining: int | None, reset: float | None) -> bool:
        if limit is None and remaining is None and reset is None:
            return False
        if limit is not None:
            self.limit = limit
        if remaining is not None:
            self.remaining = remaining
        if reset is not None:
            self.reset = reset
        return True

    def left(self, now: float) -> int | None:
        """Calls left now: the limit again once the reset has passed."""
        if self.reset is not None and self.reset <= now and self.limit is not None:
            return self.limit
        return self.remaining

    def spent(self, now: float) -> bool:
        return self.remaining == 0 and self.reset is not None and self.reset > now


@dataclass(frozen=True)
class RateSnapshot:
    """What Exact last told us about one division's budget (None where it never said)."""

    division: int | None
    minutely_limit: int | None
    minutely_remaining: int | None
    minutely_reset: datetime | None
    daily_limit: int | None
    daily_remaining: int | None
    daily_reset: datetime | None

    def describe(self) -> str:
        """``57/60 calls left this minute, 4766/5000 today`` for progress logs."""
        minute = f"{_n(self.minutely_remaining)}/{_n(self.minutely_limit)} calls left this minute"
        return f"{minute}, {_n(self.daily_remaining)}/{_n(self.daily_limit)} today"


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


@dataclass
class _State:
    minutely: _Window
    daily: _Window


class RateLimiter:
    """Keeps per-division rate-limit state and waits (or stops) before Exact has to refuse us.

    ``margin`` seconds are added to every wait on a reset (Exact's clock and ours differ a
    little); a single wait never exceeds ``max_wait`` (a minute window is 60 s, so a longer
    wait means a skewed clock); a 429 without a minutely reset header waits ``default_wait``.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        *,
        margin: float = 1.0,
        max_wait: float = 65.0,
        default_wait: float = 60.0,
        min_wait: float = 1.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.margin = margin
        self.max_wait = max_wait
        self.default_wait = default_wait
        self.min_wait = min_wait
        self._states: dict[int | None, _State] = {}
        self._lock = threading.Lock()
        self.waited_seconds = 0.0  # total time spent waiting, for benchmarks and progress logs

    # -- state ------------------------------------------------------------------------------

    def _state(self, division: int | None) -> _State:
        state = self._states.get(division)
        if state is None:
            state = self._states[division] = _State(_Window(), _Window())
        return state

    def record(self, division: int | None, headers: Mapping[str, str]) -> None:
        """Remember the budget from a response's headers (either family may be missing)."""
        minutely = _family(headers, MINUTELY_LIMIT, MINUTELY_REMAINING, MINUTELY_RESET)
        daily = _family(headers, DAILY_LIMIT, DAILY_REMAINING, DAILY_RESET)
        with self._lock:
            state = self._state(division)
            state.minutely.update(*minutely)
            state.daily.update(*daily)

    def snapshot(self, division: int | None) -> RateSnapshot:
        now = self._clock()
        with self._lock:
            state = self._state(division)
            return RateSnapshot(
                division=division,
                minutely_limit=state.minutely.limit,
                minutely_remaining=state.minutely.left(now),
                minutely_reset=_dt(state.minutely.reset),
                daily_limit=state.daily.limit,
                daily_remaining=state.daily.left(now),
                daily_reset=_dt(state.daily.reset),
            )

    def now(self) -> float:
        """The clock the budget is kept on (epoch seconds)."""
        return self._clock()

    def ready_at(self, division: int | None) -> float:
        """0.0 when a call for ``division`` would go out now; else when its minute resets."""
        now = self._clock()
        with self._lock:
            state = self._states.get(division)
            if state is None or not state.minutely.spent(now):
                return 0.0
            return state.minutely.reset or 0.0

    # -- decisions --------------------------------------------------------------------------

    def before_call(self, division: int | None) -> None:
        """Raise if today's budget is spent; sleep out the minute if this minute's is."""
        now = self._clock()
        with self._lock:
            state = self._state(division)
            if state.daily.spent(now):
                raise self._daily_error(division, state.daily.reset)
            wait = None
            if state.minutely.spent(now):
                assert state.minutely.reset is not None
                wait = self._bounded(state.minutely.reset - now + self.margin)
                # The window will have reset when we wake; the next response tells the truth.
                state.minutely.remaining = None
        if wait is not None:
            self._wait(division, wait, "minutely budget spent")

    def wait_for_429(self, division: int | None, headers: Mapping[str, str]) -> None:
        """Handle a 429: raise DailyLimitExceededError for the daily one, else sleep the minute."""
        self.record(division, headers)
        minutely = _family(headers, MINUTELY_LIMIT, MINUTELY_REMAINING, MINUTELY_RESET)
        daily_limit, daily_remaining, daily_reset = _family(
            headers, DAILY_LIMIT, DAILY_REMAINING, DAILY_RESET
        )
        has_minutely = any(v is not None for v in minutely)
        has_daily = any(v is not None for v in (daily_limit, daily_remaining, daily_reset))
        # Exact sends only the family of the limit that was hit.
        if has_daily and (daily_remaining == 0 or not has_minutely):
            raise self._daily_error(division, daily_reset)
        now = self._clock()
        retry_after = _number(headers.get("Retry-After"))
        if retry_after is not None:
            wait = retry_after
        elif minutely[2] is not None:
            wait = minutely[2] - now + self.margin
        else:
            wait = self.default_wait
        wait = max(self.min_wait, self._bounded(wait))
        with self._lock:
            self._state(division).minutely.remaining = None
        self._wait(division, wait, "429 Too Many Requests")

    # -- helpers ----------------------------------------------------------------------------

    def _bounded(self, seconds: float) -> float:
        return max(0.0, min(seconds, self.max_wait))

    def _wait(self, division: int | None, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        logger.info("Rate limit (%s) for division %s: waiting %.1f s", why, division, seconds)
        self.waited_seconds += seconds
        self._sleep(seconds)

    def _daily_error(self, division: int | None, reset: float | None) -> DailyLimitExceededError:
        resets_at = _dt(reset)
        logger.info("Daily rate limit spent for division %s (resets %s)", division, resets_at)
        return DailyLimitExceededError(
            "the daily API call limit for this division is spent",
            division=division,
            status=429,
            resets_at=resets_at,
        )


def _family(
    headers: Mapping[str, str], limit: str, remaining: str, reset: str
) -> tuple[int | None, int | None, float | None]:
    reset_ms = _number(headers.get(reset))
    return (
        _integer(headers.get(limit)),
        _integer(headers.get(remaining)),
        None if reset_ms is None else reset_ms / 1000.0,
    )


def _integer(value: str | None) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _dt(epoch_seconds: float | None) -> datetime | None:
    return None if epoch_seconds is None else datetime.fromtimestamp(epoch_seconds, UTC)
