"""Exact's CET/CEST wall clock becomes UTC in winter and summer, on any host's zone data."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from exact_online_core.mappings import converters, exact_instant, utc_to_exact_local
from exact_online_core.mappings.converters import READERS
from exact_online_core.odata import parse_date


def wall(*parts: int) -> str:
    """Exact's ``/Date(ms)/`` for a wall-clock time (the number reads it as if UTC)."""
    return f"/Date({int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)})/"


def test_winter_wall_clock_is_one_hour_ahead_of_utc() -> None:
    assert exact_instant(wall(2026, 1, 15, 10, 0)) == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_summer_wall_clock_is_two_hours_ahead_of_utc() -> None:
    assert exact_instant(wall(2026, 7, 15, 10, 0)) == datetime(2026, 7, 15, 8, 0, tzinfo=UTC)


def test_utc_instant_goes_back_to_the_same_wall_clock_in_both_seasons() -> None:
    for instant in (datetime(2026, 1, 15, 9, 0, tzinfo=UTC), datetime(2026, 7, 15, 8, 0,
                                                                         tzinfo=UTC)):
        local = utc_to_exact_local(instant)
        assert exact_instant(wall(*local.timetuple()[:5])) == instant


def test_wall_clock_converts_without_a_system_zone_database() -> None:
    """PYTHONTZPATH empty hides /usr/share/zoneinfo: the zone comes with the dependencies."""
    code = (
        "from exact_online_core.mappings import exact_instant; "
        "print(exact_instant('/Date(1768471200000)/').isoformat())"  # 2026-01-15 10:00 wall
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONTZPATH": ""}, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "2026-01-15T09:00:00+00:00"


def _by_datetimes(value: str) -> tuple[str | None, str]:
    """What the readers gave before their fast path: datetime objects all the way."""
    instant = exact_instant(value)
    return (None if instant is None else converters._rfc3339(instant),
            converters._rfc3339(parse_date(value)))


def _fast(value: str) -> tuple[str | None, str | None]:
    return READERS["exact_datetime"](value), READERS["exact_date"](value)


def test_fast_date_readers_equal_the_datetime_path_around_every_clock_change() -> None:
    """Every hour of the last week of March and October, 1976-2101 (and of September
    until 1995, when autumn changes were then; the fast path's edges included), at the
    hour's first and at a random millisecond."""
    rng = random.Random(14)
    epoch = datetime(1970, 1, 1)
    for year in range(1976, 2102):
        for month in (3, 9, 10) if year <= 1995 else (3, 10):
            start = int((datetime(year, month, 24) - epoch).total_seconds()) // 3600
            for hour in range(start, start + 8 * 24):
                for ms in (hour * 3_600_000, hour * 3_600_000 + rng.randrange(3_600_000)):
                    value = f"/Date({ms})/"
                    assert _fast(value) == _by_datetimes(value), value


@given(st.integers(min_value=-60_000_000_000_000, max_value=250_000_000_000_000),
       st.sampled_from(["", "+0200", "-0100"]))
@settings(max_examples=1000, deadline=None)
def test_fast_date_readers_equal_the_datetime_path_for_any_millisecond(ms: int, zone: str
                                                                       ) -> None:
    value = f"/Date({ms}{zone})/"
    assert _fast(value) == _by_datetimes(value)
