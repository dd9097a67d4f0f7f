"""Exact's CET/CEST wall clock becomes UTC in winter and summer, on any host's zone data."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from exact_online_core.mappings import exact_instant, utc_to_exact_local


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
