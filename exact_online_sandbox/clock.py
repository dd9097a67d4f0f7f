"""The sandbox clock: real time, shifted and scaled so Exact's time rules are testable fast.

Token lifetimes (600 s), the 570 s refresh rule, minute rate-limit windows, the 30-day
refresh expiry and webhook retry back-off all read this clock, never ``time.time()``.
"""

from __future__ import annotations

import threading
import time
import zoneinfo
from datetime import datetime

EXACT_TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")
"""Exact Online keeps Dutch local time (CET/CEST) in every datetime field."""


class Clock:
    """Sandbox time = a fixed origin + scaled elapsed real time + manual advances."""

    def __init__(self, scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._origin_real = time.monotonic()
        self._origin_epoch = time.time()
        self._scale = scale
        self._advanced = 0.0

    def now(self) -> float:
        """Current sandbox time in epoch seconds."""
        with self._lock:
            return self._now_unlocked()

    def _now_unlocked(self) -> float:
        elapsed = time.monotonic() - self._origin_real
        return self._origin_epoch + elapsed * self._scale + self._advanced

    def exact_now_ms(self) -> int:
        """Now as Exact writes it: Dutch wall-clock time encoded as if it were UTC.

        Real Exact's ``/Date(ms)/`` values (Created, Modified, DeletedDate, ...) are CET/CEST
        local times (a row created at 14:21 UTC in summer reads 16:21), and its
        ``datetime'…'`` filter literals are read the same way, so the sandbox stores and
        compares every datetime on that local scale.
        """
        now = self.now()
        offset = datetime.fromtimestamp(now, EXACT_TZ).utcoffset()
        return int((now + (offset.total_seconds() if offset else 0.0)) * 1000)

    @property
    def scale(self) -> float:
        return self._scale

    def advance(self, seconds: float) -> float:
        """Jump forward (never backward); returns the new time."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._advanced += seconds
            return self._now_unlocked()

    def set_scale(self, scale: float) -> None:
        """Make sandbox time run ``scale`` times faster from now on, without a jump."""
        if scale <= 0:
            raise ValueError("scale must be positive")
        with self._lock:
            current = self._now_unlocked()
            self._origin_real = time.monotonic()
            self._origin_epoch = current - self._advanced
            self._scale = scale

    def sleep(self, sandbox_seconds: float) -> None:
        """Sleep for a span of sandbox time (real time divided by the scale)."""
        if sandbox_seconds > 0:
            time.sleep(sandbox_seconds / self._scale)
