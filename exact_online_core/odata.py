"""OData v2 for Exact: escaped query literals, query parameters, envelope and value decoding."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, overload

from exact_online_core.errors import MalformedResponseError

__all__ = [
    "Expr",
    "Literal",
    "Page",
    "and_",
    "boolean",
    "build_params",
    "datetime_",
    "encode_body",
    "eq",
    "error_message",
    "ge",
    "gt",
    "guid",
    "int64",
    "integer",
    "le",
    "lt",
    "ne",
    "not_",
    "null",
    "or_",
    "parse_collection",
    "parse_date",
    "parse_int64",
    "parse_single",
    "string",
    "strip_metadata",
]

EXCERPT_CHARS = 160


class Literal(str):
    """An OData literal that has been formatted and escaped by one of the helpers below."""

    __slots__ = ()


class Expr(str):
    """A filter expression built only from field names and :class:`Literal` values."""

    __slots__ = ()


# ---------------------------------------------------------------------------------------------
# Literals
# ---------------------------------------------------------------------------------------------

_GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def string(value: str) -> Literal:
    """``O'Brien`` → ``'O''Brien'`` (OData doubles single quotes inside string literals)."""
    if not isinstance(value, str):
        raise TypeError(f"string() takes a str, got {type(value).__name__}")
    return Literal("'" + value.replace("'", "''") + "'")


def guid(value: str | uuid.UUID) -> Literal:
    """``guid'…'`` in lowercase; anything that is not a GUID is refused (never interpolated)."""
    if isinstance(value, uuid.UUID):
        return Literal(f"guid'{value}'")
    if not isinstance(value, str) or not _GUID_RE.match(value.strip()):
        raise ValueError(f"not a GUID: {str(value)[:60]!r}")
    return Literal(f"guid'{value.strip().lower()}'")


def datetime_(value: datetime | date) -> Literal:
    """``datetime'2024-01-01T00:00:00'``: aware values are converted to UTC and sent naive.

    Naive datetimes are sent as they are (taken to be UTC); a ``date`` means midnight.
    Milliseconds are kept when present (``…T10:00:00.123``), as Exact's ``/Date()/`` has them.
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        else:
            value = value.replace(tzinfo=None)
    elif isinstance(value, date):
        value = datetime(value.year, value.month, value.day)
    else:
        raise TypeError(f"datetime_() takes a datetime or date, got {type(value).__name__}")
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return Literal(f"datetime'{text}'")


def int64(value: int) -> Literal:
    """``123L``: an Edm.Int64 literal, e.g. for ``Timestamp gt 123L``."""
    return Literal(f"{_int(value, 'int64')}L")


def integer(value: int) -> Literal:
    """``2``: an Edm.Int32 literal, e.g. for ``EntityType eq 2``."""
    return Literal(str(_int(value, "integer")))


def boolean(value: bool) -> Literal:
    if not isinstance(value, bool):
        raise TypeError(f"boolean() takes a bool, got {type(value).__name__}")
    return Literal("true" if value else "false")


def null() -> Literal:
    return Literal("null")


def _int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}() takes an int, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------
# Filter combinators
# ---------------------------------------------------------------------------------------------

# A property name (``Modified``, ``Account/Name``) or one function of it (``trim(Code)``).
_FIELD_RE = re.compile(
    r"^(?:[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*|[a-z]+\([A-Za-z_]\w*(?:/[A-Za-z_]\w*)*\))$"
)


def _compare(op: str, field_name: str, literal: Literal) -> Expr:
    if not isinstance(field_name, str) or not _FIELD_RE.match(field_name):
        raise ValueError(f"not a property name: {str(field_name)[:60]!r}")
    if not isinstance(literal, Literal):
        raise TypeError(
            "filter values must be built with odata.string/guid/datetime_/int64/... "
            f"so they are escaped; got a plain {type(literal).__name__}"
        )
    return Expr(f"{field_name} {op} {literal}")


def eq(field_name: str, literal: Literal) -> Expr:
    return _compare("eq", field_name, literal)


def ne(field_name: str, literal: Literal) -> Expr:
    return _compare("ne", field_name, literal)


def gt(field_name: str, literal: Literal) -> Expr:
    return _compare("gt", field_name, literal)


def ge(field_name: str, literal: Literal) -> Expr:
    return _compare("ge", field_name, literal)


def lt(field_name: str, literal: Literal) -> Expr:
    return _compare("lt", field_name, literal)


def le(field_name: str, literal: Literal) -> Expr:
    return _compare("le", field_name, literal)


def _join(op: str, exprs: tuple[Expr, ...]) -> Expr:
    parts = [e for e in exprs if e is not None]
    for e in parts:
        if not isinstance(e, Expr):
            raise TypeError(f"{op}_() combines expressions built by eq/gt/...; got {e!r:.60}")
    if not parts:
        raise ValueError(f"{op}_() needs at least one expression")
    if len(parts) == 1:
        return parts[0]
    return Expr(f" {op} ".join(f"({e})" for e in parts))


def and_(*exprs: Expr) -> Expr:
    """``(a) and (b)``; a single expression comes back unchanged."""
    return _join("and", exprs)


def or_(*exprs: Expr) -> Expr:
    """``(a) or (b)``; a single expression comes back unchanged."""
    return _join("or", exprs)


def not_(expr: Expr) -> Expr:
    if not isinstance(expr, Expr):
        raise TypeError("not_() takes an expression built by eq/gt/...")
    return Expr(f"not ({expr})")


# ---------------------------------------------------------------------------------------------
# Query parameters
# ---------------------------------------------------------------------------------------------


def build_params(
    select: str | Iterable[str] | None = None,
    filter: str | None = None,
    orderby: str | Iterable[str] | None = None,
    top: int | None = None,
    skip: int | None = None,
    expand: str | Iterable[str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The ``$select``/``$filter``/... query parameters for a request (omitting ``None``)."""
    params: dict[str, str] = {}
    if select is not None:
        params["$select"] = _csv(select, "select")
    if filter is not None:
        if not filter.strip():
            raise ValueError("an empty $filter is rejected by Exact; pass None instead")
        params["$filter"] = str(filter)
    if orderby is not None:
        params["$orderby"] = _csv(orderby, "orderby")
    if top is not None:
        params["$top"] = str(_non_negative(top, "top"))
    if skip is not None:
        params["$skip"] = str(_non_negative(skip, "skip"))
    if expand is not None:
        params["$expand"] = _csv(expand, "expand")
    if extra:
        for key, value in extra.items():
            params[str(key)] = str(value)
    return params


def _csv(value: str | Iterable[str], name: str) -> str:
    text = value if isinstance(value, str) else ",".join(str(v).strip() for v in value)
    if not text.strip():
        raise ValueError(f"${name} must not be empty")
    return text


def _non_negative(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"${name} must be a non-negative integer, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Envelopes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page of a collection: its rows and the absolute ``__next`` URL (None on the last)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    next_url: str | None = None


_SECRETISH = re.compile(
    r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/!-]{12,}=*)"
    r"|(\b(?:access_token|refresh_token|client_secret)[\"']?\s*[:=]\s*[\"']?"
    r"|(?:^|[?&\s])code=)([^\s\"'&,}]+)"
)
"""Secret *values*: a bearer token, the value of an access_token / refresh_token /
client_secret field (``=`` or ``:``), an authorization code in a query or form (``code=``).
Words such as "Code already exists: X" or "refresh token" in prose are never masked."""


def excerpt(body: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short, single-line excerpt of a body for error messages, with token-like values masked."""
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="replace")
    elif isinstance(body, str):
        text = body
    else:
        try:
            text = json.dumps(body, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(body)
    text = " ".join(text.split())
    text = _SECRETISH.sub(lambda m: (m.group(1) or m.group(3)) + "****", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _malformed(problem: str, body: Any) -> MalformedResponseError:
    return MalformedResponseError(f"{problem}; body starts: {excerpt(body)}")


def _rows(items: Any, body: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not all(isinstance(row, dict) for row in items):
        raise _malformed("expected a list of objects in the OData envelope", body)
    return items


def parse_collection(body: Any) -> Page:
    """Rows and ``__next`` from ``{"d":{"results":[…],"__next":…}}``, ``{"d":[…]}``, ``{"d":{…}}``.

    A single entity (``{"d":{…}}`` without ``results``) comes back as a page with one row.
    """
    if not isinstance(body, dict) or "d" not in body:
        raise _malformed('expected an OData envelope {"d": ...}', body)
    d = body["d"]
    if isinstance(d, list):
        return Page(_rows(d, body), None)
    if not isinstance(d, dict):
        raise _malformed('"d" is neither an object nor a list', body)
    if "results" not in d:
        return Page([d], None)
    rows = _rows(d["results"], body)
    next_url = d.get("__next")
    if next_url is not None and (not isinstance(next_url, str) or not next_url.strip()):
        raise _malformed('"__next" is not a URL', body)
    return Page(rows, next_url or None)


def parse_single(body: Any) -> dict[str, Any]:
    """The one entity in ``{"d":{…}}``, or the single row of a collection (``current/Me``)."""
    if isinstance(body, dict) and isinstance(body.get("d"), dict) and "results" not in body["d"]:
        entity: dict[str, Any] = body["d"]
        return entity
    page = parse_collection(body)
    if len(page.rows) != 1:
        raise _malformed(f"expected one entity, got {len(page.rows)} rows", body)
    return page.rows[0]


def strip_metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``row`` without ``__metadata`` and unexpanded (``__deferred``) navigation props.

    Expanded navigation collections (``{"results": [...]}``) keep their shape; their rows are
    stripped too.
    """
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "__metadata":
            continue
        if isinstance(value, dict):
            if "__deferred" in value:
                continue
            if isinstance(value.get("results"), list):
                value = {
                    **{k: v for k, v in value.items() if k != "results"},
                    "results": [
                        strip_metadata(r) if isinstance(r, dict) else r for r in value["results"]
                    ],
                }
            elif "__metadata" in value:
                value = strip_metadata(value)
        out[key] = value
    return out


_HTML_TITLE = re.compile(r"(?is)<title[^>]*>(.*?)</title>")
_XML_MESSAGE = re.compile(r"(?is)<message[^>]*>(.*?)</message>")


def error_message(content: bytes) -> str | None:
    """Exact's own words in an error body, shortened.

    OData ``{"error":{"message":{"value":…}}}``, OAuth ``error``/``error_description``, the
    Atom-mode ``<error><message>…</message></error>``, an HTML ``<title>`` or short plain text.
    """
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        found: Any = None
        if isinstance(error, dict):
            message = error.get("message")
            found = message.get("value") if isinstance(message, dict) else message
        elif isinstance(error, str):
            description = data.get("error_description")
            found = f"{error}: {description}" if description else error
        else:
            found = data.get("Message") or data.get("message")
        if isinstance(found, str) and found.strip():
            return excerpt(found, 300)
    for pattern in (_XML_MESSAGE, _HTML_TITLE):
        match = pattern.search(text)
        if match and match.group(1).strip():
            return excerpt(match.group(1), 300)
    return None if text.startswith("<") else excerpt(text, 200)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------

_MS_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@overload
def parse_date(value: None) -> None: ...
@overload
def parse_date(value: str | datetime) -> datetime: ...
def parse_date(value: str | datetime | None) -> datetime | None:
    """``/Date(1382667872203)/`` or ``/Date(1382667872203+0200)/`` → aware UTC datetime.

    The number is milliseconds since the epoch in UTC; an offset suffix only says which local
    zone the value came from and does not shift the instant (the .NET JSON convention).
    ISO strings without a zone (``Me.ServerTime``) are read as UTC; ``None`` stays ``None``.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not isinstance(value, str):
        raise _malformed(f"expected a date string, got {type(value).__name__}", value)
    text = value.strip()
    match = _MS_DATE_RE.match(text)
    if match:
        return _EPOCH + timedelta(milliseconds=int(match.group(1)))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise _malformed("not an Exact date (/Date(ms)/ or ISO 8601)", value) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_INT_RE = re.compile(r"^[+-]?\d+$")


@overload
def parse_int64(value: None) -> None: ...
@overload
def parse_int64(value: int | str) -> int: ...
def parse_int64(value: int | str | None) -> int | None:
    """An Edm.Int64 as a JSON number or an OData v2 string (``"123"``/``"123L"``) → ``int``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _malformed("expected an Int64, got a boolean", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("L", "l"):
            text = text[:-1]
        if _INT_RE.match(text):
            return int(text)
    raise _malformed("expected an Int64 (number or numeric string)", value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot send a {type(value).__name__} to Exact as JSON")


def encode_body(body: Any) -> bytes:
    """A request body as UTF-8 JSON; datetimes go as naive UTC ISO strings, dates as ISO dates."""
    return json.dumps(body, default=_json_default, ensure_ascii=False).encode("utf-8")
