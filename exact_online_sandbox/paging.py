"""``$skiptoken`` paging as Exact does it: by key, or by the ``$orderby`` values and the key.

Recorded: ``financial/GLAccounts?$orderby=Modified asc&…&$top=100`` answered 60 rows and
``__next`` ``…&$top=40&$skiptoken=datetime'2018-09-21T04%3A18%3A55.617',guid'cbdd…'``: the
last row's ``$orderby`` values then its key, as OData literals. Without ``$orderby`` the token is
the last key alone (``guid'…'``; ``123L`` on sync endpoints, which page by Timestamp).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import ExactApiError
from .filters import parse_datetime_ms
from .schema import FieldType


@dataclass(frozen=True)
class SortKey:
    """One ``ORDER BY`` term: the SQL expression, its params, type and direction."""

    sql: str
    params: tuple[Any, ...]
    ftype: str
    descending: bool
    name: str


def parse_orderby(text: str, fields: Mapping[str, FieldType], type_name: str,
                  columns: Mapping[str, str]) -> list[SortKey]:
    """``$orderby=Name desc, Code`` → sort keys (unknown property → Exact's 400)."""
    keys: list[SortKey] = []
    for raw in text.split(","):
        words = raw.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ExactApiError(400, f"Syntax error in $orderby '{text}'.")
        name = words[0]
        if name not in fields:
            raise ExactApiError(400, f"No property '{name}' exists in type '{type_name}'.")
        column = columns.get(name)
        sql, params = (column, ()) if column else ("json_extract(data, ?)", (f"$.{name}",))
        keys.append(SortKey(sql, params, fields[name], len(words) == 2 and words[1] == "desc",
                            name))
    return keys


def order_sql(keys: Sequence[SortKey]) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for k in keys:
        parts.append(f"{k.sql} {'DESC' if k.descending else 'ASC'}")
        params.extend(k.params)
    return ", ".join(parts), params


def _ms_literal(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{ms % 1000:03d}".rstrip("0")
    return f"datetime'{text}.{fraction}'" if fraction else f"datetime'{text}'"


def token_literal(ftype: str, value: Any) -> str:
    """One value of a skip token as an OData literal (``datetime'…'`` drops trailing zeros of
    the milliseconds, as recorded: ``12:40:29.9``)."""
    if value is None:
        return "null"
    if ftype == "datetime":
        return _ms_literal(int(value))
    if ftype == "guid":
        return f"guid'{value}'"
    if ftype == "string":
        return "'" + str(value).replace("'", "''") + "'"
    if ftype == "int64":
        return f"{value}L"
    if ftype == "bool":
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


_LITERAL = re.compile(r"\s*(?:(?P<typed>(?:guid|datetime)'(?:[^']|'')*')|(?P<str>'(?:[^']|'')*')"
                      r"|(?P<other>[^,']+))\s*(?:,|$)")


def split_token(token: str) -> list[str]:
    parts: list[str] = []
    pos = 0
    while pos < len(token):
        m = _LITERAL.match(token, pos)
        if m is None or m.end() == pos:
            raise invalid_token(token)
        parts.append(m.group().strip().rstrip(",").strip())
        pos = m.end()
    return parts


def invalid_token(token: str) -> ExactApiError:
    return ExactApiError(400, f"The skip token value '{token}' is not valid.")


def parse_literal(ftype: str, text: str, token: str) -> Any:
    """A literal of a skip token → the stored value of ``ftype``."""
    try:
        if text == "null":
            return None
        if ftype == "datetime":
            if not (text.startswith("datetime'") and text.endswith("'")):
                raise ValueError(text)
            return parse_datetime_ms(text[9:-1])
        if ftype == "guid":
            if not (text.startswith("guid'") and text.endswith("'")):
                raise ValueError(text)
            return text[5:-1].lower()
        if ftype == "string":
            if not (text.startswith("'") and text.endswith("'")):
                raise ValueError(text)
            return text[1:-1].replace("''", "'")
        if ftype in ("int", "int64"):
            return int(text[:-1] if text[-1:] in "Ll" else text)
        if ftype == "decimal":
            return float(text.rstrip("MmDd"))
        if ftype == "bool":
            return {"true": True, "false": False}[text]
    except (ValueError, KeyError, IndexError):
        pass
    raise invalid_token(token)


def after(keys: Sequence[SortKey], values: Sequence[Any]) -> tuple[str, list[Any]]:
    """SQL for "rows after these sort values" (ties broken by the later keys; SQLite orders
    NULL first ascending)."""
    clauses: list[str] = []
    params: list[Any] = []
    for i, key in enumerate(keys):
        prefix: list[str] = []
        prefix_params: list[Any] = []
        for earlier, value in zip(keys[:i], values[:i], strict=True):
            if value is None:
                prefix.append(f"{earlier.sql} IS NULL")
                prefix_params.extend(earlier.params)
            else:
                prefix.append(f"{earlier.sql} = ?")
                prefix_params.extend([*earlier.params, value])
        value = values[i]
        if value is None:
            if key.descending:
                continue  # nothing sorts after NULL descending
            step, step_params = f"{key.sql} IS NOT NULL", list(key.params)
        elif key.descending:
            step, step_params = f"({key.sql} < ? OR {key.sql} IS NULL)", \
                [*key.params, value, *key.params]
        else:
            step, step_params = f"{key.sql} > ?", [*key.params, value]
        clauses.append("(" + " AND ".join([*prefix, step]) + ")")
        params.extend([*prefix_params, *step_params])
    if not clauses:
        return "0", []
    return "(" + " OR ".join(clauses) + ")", params
