"""Rate limits: per app per division minute/day windows, headers, 429s with one header family."""

from __future__ import annotations

import pytest

from exact_online_sandbox.clock import Clock
from exact_online_sandbox.ratelimit import RateLimiter
from exact_online_sandbox.server import Sandbox
from exact_online_sandbox.store import Store

MINUTELY = ("X-RateLimit-Minutely-Limit", "X-RateLimit-Minutely-Remaining",
            "X-RateLimit-Minutely-Reset")
DAILY = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _start_of_minute(sb: Sandbox) -> None:
    """Move the clock just past a minute boundary so a burst stays in one window."""
    now = sb.now()
    sb.advance_clock(60 - now % 60 + 0.01)


@pytest.fixture
def limiter() -> RateLimiter:
    clock = Clock()
    clock.advance(60 - clock.now() % 60 + 0.01)
    return RateLimiter(Store(None), clock)


def test_every_division_call_carries_all_six_headers(sandbox: Sandbox, token: str) -> None:
    response = sandbox.call(token, "crm/Accounts/$count")
    assert response.status_code == 200
    for name in MINUTELY + DAILY:
        assert response.headers[name].isdigit()
    assert response.headers["X-RateLimit-Minutely-Limit"] == "60"
    assert response.headers["X-RateLimit-Limit"] == "5000"


def test_remaining_decreases_with_each_call(sandbox: Sandbox, token: str) -> None:
    _start_of_minute(sandbox)
    first = sandbox.call(token, "crm/Accounts/$count").headers
    second = sandbox.call(token, "crm/Accounts/$count").headers
    assert int(second["X-RateLimit-Minutely-Remaining"]) == \
        int(first["X-RateLimit-Minutely-Remaining"]) - 1
    assert int(second["X-RateLimit-Remaining"]) == int(first["X-RateLimit-Remaining"]) - 1


def test_reset_headers_are_next_minute_and_next_utc_midnight_in_ms(limiter: RateLimiter) -> None:
    decision = limiter.hit("app", 1)
    minute_reset = int(decision.headers["X-RateLimit-Minutely-Reset"])
    day_reset = int(decision.headers["X-RateLimit-Reset"])
    assert minute_reset % 60_000 == 0
    assert day_reset % 86_400_000 == 0
    assert 0 < minute_reset / 1000 - limiter._clock.now() <= 60


def test_61st_call_in_a_minute_is_429_with_only_minutely_headers(
        sandbox: Sandbox, token: str) -> None:
    _start_of_minute(sandbox)
    statuses = [sandbox.call(token, "crm/Accounts/$count").status_code for _ in range(60)]
    assert statuses == [200] * 60
    refused = sandbox.call(token, "crm/Accounts/$count")
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Minutely-Remaining"] == "0"
    for name in DAILY:
        assert name not in refused.headers


def test_minute_window_resets_after_clock_advance(sandbox: Sandbox, token: str) -> None:
    sandbox.set_limits(minutely=2)
    _start_of_minute(sandbox)
    sandbox.call(token, "crm/Accounts/$count")
    sandbox.call(token, "crm/Accounts/$count")
    assert sandbox.call(token, "crm/Accounts/$count").status_code == 429
    sandbox.advance_clock(60)
    response = sandbox.call(token, "crm/Accounts/$count")
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Minutely-Remaining"] == "1"


def test_daily_limit_429_has_only_daily_headers(sandbox: Sandbox, token: str) -> None:
    sandbox.set_limits(daily=2)
    sandbox.call(token, "crm/Accounts/$count")
    sandbox.call(token, "crm/Accounts/$count")
    refused = sandbox.call(token, "crm/Accounts/$count")
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    for name in MINUTELY:
        assert name not in refused.headers


def test_refused_calls_are_not_counted(limiter: RateLimiter) -> None:
    limiter.set_limits(minutely=1)
    assert limiter.hit("app", 1).allowed
    assert not limiter.hit("app", 1).allowed
    limiter.set_limits(minutely=2)
    assert limiter.hit("app", 1).allowed


def test_windows_are_per_division_and_per_app(limiter: RateLimiter) -> None:
    limiter.set_limits(minutely=1)
    assert limiter.hit("app", 1).allowed
    assert limiter.hit("app", 2).allowed
    assert limiter.hit("other", 1).allowed
    assert not limiter.hit("app", 1).allowed


def test_current_me_has_no_division_rate_limit(sandbox: Sandbox, token: str) -> None:
    sandbox.set_limits(minutely=0)
    response = sandbox.call(token, "current/Me", division=None)
    assert response.status_code == 200
    assert "X-RateLimit-Minutely-Limit" not in response.headers
