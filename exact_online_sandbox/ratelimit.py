"""Exact's per app, per division call budget: minute and day windows and the X-RateLimit headers."""

from __future__ import annotations

from dataclasses import dataclass

from exact_online_sandbox.clock import Clock
from exact_online_sandbox.store import Store

DEFAULT_MINUTELY = 60
DEFAULT_DAILY = 5000
DEFAULT_TOKEN_DAILY = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sb_limits (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    minutely INTEGER NOT NULL, daily INTEGER NOT NULL, token_daily INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sb_rate (
    client_id TEXT NOT NULL, division INTEGER NOT NULL,
    minute_start INTEGER NOT NULL, minute_count INTEGER NOT NULL,
    day_start INTEGER NOT NULL, day_count INTEGER NOT NULL,
    PRIMARY KEY (client_id, division)
);
"""


@dataclass(frozen=True)
class Limits:
    minutely: int = DEFAULT_MINUTELY
    daily: int = DEFAULT_DAILY
    token_daily: int = DEFAULT_TOKEN_DAILY


@dataclass(frozen=True)
class Decision:
    """The outcome of one counted call: allowed or not, and the headers Exact sends with it."""

    allowed: bool
    exceeded: str | None  # "minutely" / "daily" when refused
    headers: dict[str, str]


def minute_start(now: float) -> int:
    return int(now // 60) * 60


def day_start(now: float) -> int:
    return int(now // 86400) * 86400


def minutely_headers(limit: int, remaining: int, now: float) -> dict[str, str]:
    return {
        "X-RateLimit-Minutely-Limit": str(limit),
        "X-RateLimit-Minutely-Remaining": str(max(remaining, 0)),
        "X-RateLimit-Minutely-Reset": str((minute_start(now) + 60) * 1000),
    }


def daily_headers(limit: int, remaining: int, now: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(remaining, 0)),
        "X-RateLimit-Reset": str((day_start(now) + 86400) * 1000),
    }


class RateLimiter:
    """Counts calls per (client_id, division); windows align to clock minutes and 00:00 UTC.

    A refused call is not counted (Exact refuses it before doing anything).
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        store.ensure_schema(_SCHEMA)

    def limits(self) -> Limits:
        with self._store.reading() as conn:
            row = conn.execute("SELECT minutely, daily, token_daily FROM sb_limits").fetchone()
        if row is None:
            return Limits()
        return Limits(int(row[0]), int(row[1]), int(row[2]))

    def set_limits(
        self,
        *,
        minutely: int | None = None,
        daily: int | None = None,
        token_daily: int | None = None,
    ) -> Limits:
        """Change limits; the current windows keep their counts."""
        current = self.limits()
        new = Limits(
            minutely if minutely is not None else current.minutely,
            daily if daily is not None else current.daily,
            token_daily if token_daily is not None else current.token_daily,
        )
        for value in (new.minutely, new.daily, new.token_daily):
            if value < 0:
                raise ValueError("limits must be >= 0")
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sb_limits (id, minutely, daily, token_daily) "
                "VALUES (1, ?, ?, ?)",
                (new.minutely, new.daily, new.token_daily),
            )
        return new

    def reset(self) -> None:
        """Forget every window and go back to the default limits."""
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sb_rate")
            conn.execute("DELETE FROM sb_limits")

    def hit(self, client_id: str, division: int) -> Decision:
        """Count one call; refuse it (not counted) when a window is exhausted."""
        now = self._clock.now()
        minute, day = minute_start(now), day_start(now)
        with self._store.reading() as conn:  # the lock held from the read to the write
            limits = self.limits()
            row = conn.execute(
                "SELECT minute_start, minute_count, day_start, day_count FROM sb_rate "
                "WHERE client_id = ? AND division = ?",
                (client_id, division),
            ).fetchone()
            minute_count = int(row[1]) if row is not None and int(row[0]) == minute else 0
            day_count = int(row[3]) if row is not None and int(row[2]) == day else 0
            if day_count >= limits.daily:
                return Decision(False, "daily", daily_headers(limits.daily, 0, now))
            if minute_count >= limits.minutely:
                return Decision(False, "minutely", minutely_headers(limits.minutely, 0, now))
            minute_count += 1
            day_count += 1
            with self._store.transaction() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO sb_rate VALUES (?, ?, ?, ?, ?, ?)",
                    (client_id, division, minute, minute_count, day, day_count),
                )
        headers = minutely_headers(limits.minutely, limits.minutely - minute_count, now)
        headers.update(daily_headers(limits.daily, limits.daily - day_count, now))
        return Decision(True, None, headers)
