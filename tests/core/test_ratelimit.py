"""Unit tests for the per-division rate limiter (fake clock and sleep, no real waiting)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from exact_online_core.errors import DailyLimitExceededError
from exact_online_core.ratelimit import RateLimiter

NOW = 1_683_879_505.0  # 2023-05-12T08:18:25Z, the request time of picqer issue #609
MINUTE_RESET_MS = "1683879540000"  # 08:19:00Z
DAY_RESET_MS = "1683936000000"  # 2023-05-13T00:00:00Z


class FakeTime:
    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def limiter(fake: FakeTime) -> RateLimiter:
    return RateLimiter(clock=fake.clock, sleep=fake.sleep, margin=1.0)


def full_headers(minutely_remaining: int = 58, daily_remaining: int = 4766) -> dict[str, str]:
    return {
        "X-RateLimit-Minutely-Limit": "60",
        "X-RateLimit-Minutely-Remaining": str(minutely_remaining),
        "X-RateLimit-Minutely-Reset": MINUTE_RESET_MS,
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": str(daily_remaining),
        "X-RateLimit-Reset": DAY_RESET_MS,
    }


def test_snapshot_reports_both_header_families(limiter: RateLimiter) -> None:
    limiter.record(100, full_headers())
    snap = limiter.snapshot(100)
    assert (snap.minutely_limit, snap.minutely_remaining) == (60, 58)
    assert (snap.daily_limit, snap.daily_remaining) == (5000, 4766)
    assert snap.minutely_reset == datetime(2023, 5, 12, 8, 19, tzinfo=UTC)
    assert snap.daily_reset == datetime(2023, 5, 13, tzinfo=UTC)
    assert snap.describe() == "58/60 calls left this minute, 4766/5000 today"


def test_state_is_kept_per_division(limiter: RateLimiter) -> None:
    limiter.record(100, full_headers(minutely_remaining=0))
    assert limiter.snapshot(200).minutely_remaining is None


def test_minutely_only_headers_keep_the_daily_state(limiter: RateLimiter) -> None:
    limiter.record(100, full_headers())
    limiter.record(100, {"X-RateLimit-Minutely-Remaining": "10"})
    assert limiter.snapshot(100).daily_remaining == 4766


def test_snapshot_shows_full_minute_after_reset_passed(
    limiter: RateLimiter, fake: FakeTime
) -> None:
    limiter.record(100, full_headers(minutely_remaining=3))
    fake.now = 1_683_879_541.0
    assert limiter.snapshot(100).minutely_remaining == 60


def test_before_call_sleeps_until_minutely_reset_when_none_left(
    limiter: RateLimiter, fake: FakeTime
) -> None:
    limiter.record(100, full_headers(minutely_remaining=0))
    limiter.before_call(100)
    assert fake.sleeps == [pytest.approx(35.0 + 1.0)]


def test_before_call_sleeps_only_once_for_a_spent_minute(
    limiter: RateLimiter, fake: FakeTime
) -> None:
    limiter.record(100, full_headers(minutely_remaining=0))
    limiter.before_call(100)
    limiter.before_call(100)
    assert len(fake.sleeps) == 1


def test_before_call_does_not_sleep_with_calls_left(limiter: RateLimiter, fake: FakeTime) -> None:
    limiter.record(100, full_headers(minutely_remaining=1))
    limiter.before_call(100)
    assert fake.sleeps == []


def test_before_call_does_not_sleep_once_reset_passed(limiter: RateLimiter, fake: FakeTime) -> None:
    limiter.record(100, full_headers(minutely_remaining=0))
    fake.now = 1_683_879_541.0
    limiter.before_call(100)
    assert fake.sleeps == []


def test_before_call_raises_when_daily_budget_spent(limiter: RateLimiter, fake: FakeTime) -> None:
    limiter.record(100, full_headers(daily_remaining=0))
    with pytest.raises(DailyLimitExceededError) as info:
        limiter.before_call(100)
    assert info.value.resets_at == datetime(2023, 5, 13, tzinfo=UTC)
    assert fake.sleeps == []


def test_before_call_allows_calls_after_daily_reset(limiter: RateLimiter, fake: FakeTime) -> None:
    limiter.record(100, full_headers(daily_remaining=0))
    fake.now = 1_683_936_001.0
    limiter.before_call(100)


def test_wait_for_429_sleeps_until_minutely_reset(limiter: RateLimiter, fake: FakeTime) -> None:
    limiter.wait_for_429(
        100,
        {
            "X-RateLimit-Minutely-Limit": "60",
            "X-RateLimit-Minutely-Remaining": "0",
            "X-RateLimit-Minutely-Reset": MINUTE_RESET_MS,
        },
    )
    assert fake.sleeps == [pytest.approx(36.0)]


def test_wait_for_429_without_headers_waits_default_minute(
    limiter: RateLimiter, fake: FakeTime
) -> None:
    limiter.wait_for_429(100, {})
    assert fake.sleeps == [60.0]


def test_wait_for_429_is_bounded(limiter: RateLimiter, fake: FakeTime) -> None:
    far = str(int((NOW + 3600) * 1000))
    limiter.wait_for_429(100, {"X-RateLimit-Minutely-Reset": far})
    assert fake.sleeps == [65.0]


def test_wait_for_429_waits_a_little_when_reset_already_passed(
    limiter: RateLimiter, fake: FakeTime
) -> None:
    past = str(int((NOW - 5) * 1000))
    limiter.wait_for_429(100, {"X-RateLimit-Minutely-Reset": past})
    assert fake.sleeps == [1.0]


def test_wait_for_429_honours_retry_after(limiter: RateLimiter, fake: FakeTime) -> None:
    limiter.wait_for_429(100, {"Retry-After": "7", "X-RateLimit-Minutely-Reset": MINUTE_RESET_MS})
    assert fake.sleeps == [7.0]


def test_wait_for_429_raises_for_daily_limit(limiter: RateLimiter, fake: FakeTime) -> None:
    headers = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": DAY_RESET_MS,
    }
    with pytest.raises(DailyLimitExceededError) as info:
        limiter.wait_for_429(100, headers)
    assert info.value.resets_at == datetime(2023, 5, 13, tzinfo=UTC)
    assert info.value.division == 100
    assert fake.sleeps == []


def test_daily_429_makes_later_calls_stop_before_sending(limiter: RateLimiter) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": DAY_RESET_MS}
    with pytest.raises(DailyLimitExceededError):
        limiter.wait_for_429(100, headers)
    with pytest.raises(DailyLimitExceededError):
        limiter.before_call(100)


def test_waiting_is_logged_with_division_and_seconds(
    limiter: RateLimiter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exact_online_core.ratelimit")
    limiter.wait_for_429(4242, {"X-RateLimit-Minutely-Reset": MINUTE_RESET_MS})
    assert "4242" in caplog.text
    assert "36.0 s" in caplog.text


def test_waited_seconds_accumulates(limiter: RateLimiter) -> None:
    limiter.wait_for_429(100, {})
    limiter.wait_for_429(100, {"Retry-After": "5"})
    assert limiter.waited_seconds == 65.0
