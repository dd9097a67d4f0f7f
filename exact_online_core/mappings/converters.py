"""Value converters between Exact and unified values, registered by name for the tables.

Dates and times. Exact's ``/Date(ms)/`` values are Exact's local wall-clock time (CET/CEST,
``Europe/Amsterdam``) encoded as if it were UTC: a record created at 14:21 UTC comes back as
``/Date(…16:21…)/`` (checked against the HTTP ``Date`` headers of the real recordings, where
``current/Me`` reports ``ServerUtcOffset`` 7200). So:

* ``exact_datetime`` (``created_at``, ``updated_at``: instants) reads the wall clock in
  :data:`EXACT_TZ` and converts it to a real UTC instant. A value that carries its own zone
  (``/Date(ms+0200)/``, ISO with ``Z`` or an offset) is already an instant and is only
  normalised to UTC.
* ``exact_date`` (``InvoiceDate``, ``DueDate``, free date fields: calendar dates stored as
  midnight) keeps the wall clock as it is, so 2024-08-12 stays ``2024-08-12T00:00:00Z``
  instead of sliding to the previous evening.
* Writes send naive ISO strings, as Exact's own clients do: ``date_out`` gives
  ``YYYY-MM-DD`` for a midnight value (else ``YYYY-MM-DDTHH:MM:SS``), ``datetime_out``
  converts an instant back to Exact's local wall clock. :func:`utc_to_exact_local` does the
  same for ``Modified gt datetime'…'`` filters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast

import pendulum

from exact_online_core.odata import parse_date

JsonType = Literal["string", "number", "integer", "boolean", "date-time", "array"]

EXACT_TZ = pendulum.timezone("Europe/Amsterdam")
"""The zone of Exact's wall-clock ``/Date()/`` values (all Exact regions run on CET/CEST).

pendulum ships the IANA zone database (``tzdata``), so the zone resolves on every host, also
where the system has none (Windows, slim containers), which plain ``zoneinfo`` does not
promise. It is a ``zoneinfo.ZoneInfo``: the standard library's conversions apply (an
ambiguous autumn wall time is read as the earlier, summer-time instant)."""

_ZONE_SUFFIX = re.compile(r"(/Date\(-?\d+[+-]\d{4}\)/|Z|[+-]\d{2}:?\d{2})$")


# ---------------------------------------------------------------------------------------------
# Converters: value -> value, registered by name. None always maps to None.
# ---------------------------------------------------------------------------------------------


def _rfc3339(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def _has_zone(value: Any) -> bool:
    return isinstance(value, str) and bool(_ZONE_SUFFIX.search(value.strip()))


def exact_instant(value: Any) -> datetime | None:
    """An Exact ``/Date()/`` or ISO value as an aware UTC datetime (see module docstring)."""
    if value is None or value == "":
        return None
    wall = cast(datetime, parse_date(value))  # the number read as UTC: Exact's wall clock
    if (isinstance(value, datetime) and value.tzinfo is not None) or _has_zone(value):
        return wall
    return wall.replace(tzinfo=EXACT_TZ).astimezone(UTC)


def utc_to_exact_local(value: datetime) -> datetime:
    """An aware instant → Exact's naive local wall clock, for ``datetime'…'`` filters."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(EXACT_TZ).replace(tzinfo=None)


def parse_rfc3339(value: str | datetime | date) -> datetime:
    """A unified date-time (RFC 3339, or a date) → aware datetime; naive input means UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    else:
        raise TypeError(f"expected an RFC 3339 string, got {type(value).__name__}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _read_datetime(value: Any) -> str | None:
    if value.__class__ is str and value.startswith("/Date(") and value.endswith(")/"):
        digits = value[6:-2]
        if digits.isascii() and digits.isdigit():  # no zone of its own: Exact's wall clock
            wall = int(digits)
            if _ZONE_MIN_MS <= wall < _ZONE_MAX_MS:
                day, rest = divmod(wall, _DAY_MS)
                hours = _day_hours.get(day)
                if hours is None:
                    hours = _hours_of(day)
                hour, rest = divmod(rest, _HOUR_MS)
                second, millis = divmod(rest, 1000)
                return f"{hours[hour]}{_MINUTES_SECONDS[second]}{_MILLIS_Z[millis]}"
    instant = exact_instant(value)
    return None if instant is None else _rfc3339(instant)


def _read_date(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("/Date(") and value.endswith(")/"):
        digits = value[6:-2]
        sign = max(digits.rfind("+"), digits.rfind("-"))
        if sign > 0 and len(digits) - sign == 5:  # /Date(ms+0200)/: the zone never shifts it
            digits = digits[:sign]
        number = digits[1:] if digits.startswith("-") else digits
        if number.isascii() and number.isdigit():
            text = _ms_to_rfc3339(int(digits))
            if text is not None:
                return text
    return None if value is None or value == "" else _rfc3339(parse_date(value))


# -- /Date(ms)/ without per-value datetime objects ----------------------------------------------
#
# The same results as exact_instant + _rfc3339 (tests/core/test_exact_timezone.py compares
# them over every hour of decades): since 1977 Europe/Amsterdam changes its offset only on
# whole wall-clock hours, so a wall-clock value's UTC text is the UTC text of its wall-clock
# hour (built once per day for its 24 hours, with each hour's offset: the earlier offset
# where an autumn hour repeats, the one before a spring gap) followed by its minutes,
# seconds and milliseconds, which the offset never changes. A calendar date (exact_date)
# keeps its wall clock: its day's text is built once.

_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_MIN_MS = -62_135_596_800_000 + _DAY_MS  # 0001-01-02: room for the zone's offset
_MAX_MS = 253_402_300_799_999 - _DAY_MS  # 9999-12-30
_ZONE_MIN_MS = 220_924_800_000  # 1977-01-01
_ZONE_MAX_MS = 4_102_444_800_000  # 2100-01-01
_EPOCH_NAIVE = datetime(1970, 1, 1)
_DAY_HOURS_KEPT = 5_000
"""Wall-clock days whose hour texts are kept (about 14 years, under 10 MB); more start over."""
_day_hours: dict[int, tuple[str, ...]] = {}
_days: dict[int, str] = {}


def _hours_of(day: int) -> tuple[str, ...]:
    """``YYYY-MM-DDTHH:`` in UTC of each hour of a wall-clock day (days since the epoch)."""
    first, last = _offset_at(day * 24), _offset_at(day * 24 + 23)
    texts = []
    for hour in range(day * 24, day * 24 + 24):
        offset = first if first == last else _offset_at(hour)  # the day it changes: per hour
        utc_day, rest = divmod(hour * _HOUR_MS - offset, _DAY_MS)
        texts.append(_day_text(utc_day) + _TWO_DIGITS[rest // _HOUR_MS] + ":")
    if len(_day_hours) >= _DAY_HOURS_KEPT:
        _day_hours.clear()
    hours = _day_hours[day] = tuple(texts)
    return hours


def _offset_at(hour: int) -> int:
    """The zone's offset (ms, whole hours since 1977) at a wall-clock hour from the epoch."""
    wall = _EPOCH_NAIVE + timedelta(milliseconds=hour * _HOUR_MS)
    delta = wall.replace(tzinfo=EXACT_TZ).utcoffset()
    return int(delta.total_seconds() * 1000) if delta else 0


def _day_text(day: int) -> str:
    """``YYYY-MM-DDT`` of a day since the epoch (cached)."""
    text = _days.get(day)
    if text is None:
        text = _days[day] = (_EPOCH_NAIVE + timedelta(days=day)).strftime("%Y-%m-%dT")
    return text


def _ms_to_rfc3339(ms: int) -> str | None:
    """UTC epoch milliseconds → ``YYYY-MM-DDTHH:MM:SS[.mmm]Z`` (None out of datetime's range)."""
    if not _MIN_MS <= ms <= _MAX_MS:
        return None
    day, rest = divmod(ms, _DAY_MS)
    text = _day_text(day)
    if len(text) != 11:  # a year before 1000 prints short on some platforms
        return None
    minute, rest = divmod(rest, 60_000)
    second, millis = divmod(rest, 1000)
    if millis:
        return text + _HOURS_MINUTES[minute] + _TWO_DIGITS[second] + _MILLIS[millis] + "Z"
    return text + _HOURS_MINUTES[minute] + _TWO_DIGITS[second] + "Z"


_TWO_DIGITS = [f"{n:02d}" for n in range(60)]
_HOURS_MINUTES = [f"{n // 60:02d}:{n % 60:02d}:" for n in range(24 * 60)]
_MILLIS = [f".{n:03d}" for n in range(1000)]
_MINUTES_SECONDS = [f"{n // 60:02d}:{n % 60:02d}" for n in range(3600)]
_MILLIS_Z = ["Z", *(f".{n:03d}Z" for n in range(1, 1000))]


def _write_date(value: Any) -> str:
    parsed = parse_rfc3339(value).astimezone(UTC)
    if parsed.time() == datetime.min.time():
        return parsed.strftime("%Y-%m-%d")
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")


def _write_datetime(value: Any) -> str:
    return utc_to_exact_local(parse_rfc3339(value)).strftime("%Y-%m-%dT%H:%M:%S")


def _trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _guid(value: Any) -> str:
    return str(value).strip().lower()


def _int_to_str(value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    return str(int(value))


def _decimal(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    return float(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # Exact's Byte flags (IsAccountant, ...)
        return bool(value)
    raise TypeError(f"expected a boolean, got {value!r}")


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _enum(table: Mapping[Any, Any], what: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        try:
            return table[value]
        except (KeyError, TypeError):
            allowed = ", ".join(repr(k) for k in table)
            raise ValueError(f"{value!r} is not a known {what} (one of {allowed})") from None

    return convert


INVOICE_TYPES = {8020: "invoice", 8021: "credit_note", 8023: "invoice", 8024: "credit_note"}
INVOICE_TYPE_CODES = {"invoice": 8020, "credit_note": 8021}
DIVISION_STATUSES = {0: "inactive", 1: "active", 2: "archived"}

READERS: dict[str, Callable[[Any], Any]] = {
    "identity": lambda v: v,
    "trim": _trim,
    "guid": _guid,
    "exact_datetime": _read_datetime,
    "exact_date": _read_date,
    "int_to_str": _int_to_str,
    "decimal": _decimal,
    "integer": _integer,
    "bool": _boolean,
    "invoice_type": _enum(INVOICE_TYPES, "invoice Type"),
    "division_status": _enum(DIVISION_STATUSES, "division Status"),
}
"""Exact value → unified value. ``computed`` and ``context`` are handled by :func:`to_unified`."""

WRITERS: dict[str, Callable[[Any], Any]] = {
    "identity": lambda v: v,
    "string": _string,
    "trim": _trim,
    "guid": _guid,
    "date_out": _write_date,
    "datetime_out": _write_datetime,
    "decimal": _decimal,
    "integer": _integer,
    "bool": _boolean,
    "invoice_type": _enum(INVOICE_TYPE_CODES, "invoice type"),
}
"""Unified value → Exact value for POST/PUT bodies."""

SPECIAL_READERS = frozenset({"computed", "context"})


# ---------------------------------------------------------------------------------------------
# Exact field lists as compact specs
# ---------------------------------------------------------------------------------------------

_SPEC_TYPES: dict[str, JsonType] = {
    "s": "string", "g": "string", "i": "integer", "m": "number", "b": "boolean",
    "d": "date-time",
}


def exact_fields_spec(*specs: str) -> dict[str, JsonType]:
    """``"ID:g Name Amount:m Free_{01-05}:b"`` → {name: JSON type}; no suffix = string.

    Codes: s string, g guid (string), i integer, m decimal (number), b boolean, d date.
    ``{a-b}`` expands to numbered names keeping the width of ``a``.
    """
    out: dict[str, JsonType] = {}
    for token in " ".join(specs).split():
        name, _, code = token.partition(":")
        json_type = _SPEC_TYPES[code or "s"]
        m = re.fullmatch(r"(.*)\{(\d+)-(\d+)\}", name)
        if m:
            width = len(m.group(2))
            for n in range(int(m.group(2)), int(m.group(3)) + 1):
                out[f"{m.group(1)}{n:0{width}d}"] = json_type
        else:
            out[name] = json_type
    return out


AUDIT_SPEC = "Created:d Creator:g CreatorFullName Division:i Modified:d Modifier:g ModifierFullName"
"""The audit properties most Exact entities have."""


def default_read_write(json_type: JsonType) -> tuple[str, str]:
    """The converter names for a custom field of a JSON type (``field_mappings``)."""
    return _DEFAULT_CONVERTERS[json_type]


_DEFAULT_CONVERTERS: dict[str, tuple[str, str]] = {
    "string": ("identity", "identity"),
    "number": ("decimal", "decimal"),
    "integer": ("integer", "integer"),
    "boolean": ("bool", "bool"),
    "date-time": ("exact_date", "date_out"),
}
