"""Injectable faults (errors, 429s, delays, resets, broken bodies) so clients can be tested on them.

A rule matches a request when its ``path`` glob (``fnmatch``, case-insensitive, ``*`` crosses
``/``) matches the request path and its optional ``method`` matches; the oldest matching rule
with a count left fires and loses one count. Faults apply to Exact's surface (``/api/...``)
only, never to ``/_sandbox/``.

| kind | effect |
|---|---|
| ``status`` | that status with Exact's OData error body (optional ``message``); not executed |
| ``rate_limit`` | 429, empty body, only the minutely rate-limit headers |
| ``delay`` | sleep ``seconds`` of real time (a client timeout fires), then answer normally |
| ``reset`` | close the TCP connection without a response (``after: true``: execute first) |
| ``malformed`` | execute normally, then answer 200 with a body that is not JSON |
| ``truncated`` | execute normally, then answer 200 with the body cut in half |
"""

from __future__ import annotations

import fnmatch
import http
import json
import socket
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from exact_online_sandbox.errors import ExactApiError, odata_error_body
from exact_online_sandbox.store import Store

KINDS = ("status", "rate_limit", "delay", "reset", "malformed", "truncated")
MALFORMED_BODY = b'{"d":{"results":[{"ID": <html>Service Unavailable</html>'

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sb_faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT, spec TEXT NOT NULL, remaining INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Fault:
    id: int
    path: str
    kind: str
    method: str | None = None
    status: int = 503
    seconds: float = 0.0
    count: int = 1
    remaining: int = 1
    message: str | None = None
    after: bool = False

    def public(self) -> dict[str, Any]:
        return asdict(self)


def parse_fault(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate a control-API fault spec; raises ExactApiError(400) with the reason."""
    if not isinstance(spec, dict):
        raise ExactApiError(400, "a fault is a JSON object")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ExactApiError(400, f"kind must be one of {', '.join(KINDS)}")
    path = spec.get("path", "*")
    if not isinstance(path, str) or not path:
        raise ExactApiError(400, "path must be a non-empty glob string")
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise ExactApiError(400, "method must be a string")
    try:
        status = int(spec.get("status", 429 if kind == "rate_limit" else 503))
        seconds = float(spec.get("seconds", 0))
        count = int(spec.get("count", 1))
    except (TypeError, ValueError) as exc:
        raise ExactApiError(400, f"invalid number in fault: {exc}") from exc
    if not 100 <= status <= 599 or count < 1 or seconds < 0:
        raise ExactApiError(400, "status must be 100-599, count >= 1, seconds >= 0")
    if kind == "delay" and seconds <= 0:
        raise ExactApiError(400, "a delay fault needs seconds > 0")
    message = spec.get("message")
    return {"path": path, "kind": kind, "method": method.upper() if method else None,
            "status": status, "seconds": seconds, "count": count,
            "message": str(message) if message is not None else None,
            "after": bool(spec.get("after", False))}


class Faults:
    """The persisted list of fault rules."""

    def __init__(self, store: Store) -> None:
        self._store = store
        store.ensure_schema(_SCHEMA)

    def add(self, spec: dict[str, Any]) -> Fault:
        clean = parse_fault(spec)
        with self._store.transaction() as conn:
            cur = conn.execute("INSERT INTO sb_faults (spec, remaining) VALUES (?, ?)",
                               (json.dumps(clean), clean["count"]))
            fault_id = int(cur.lastrowid or 0)
        return Fault(id=fault_id, remaining=clean["count"], **clean)

    def list(self) -> list[Fault]:
        with self._store.reading() as conn:
            rows = conn.execute("SELECT id, spec, remaining FROM sb_faults ORDER BY id").fetchall()
        return [Fault(id=int(r[0]), remaining=int(r[2]), **json.loads(r[1])) for r in rows]

    def clear(self) -> None:
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sb_faults")

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule matching this request, with one count consumed.

        Read under the store's lock first; a write transaction only when a rule matches
        (most requests meet no fault: they cost one read, not a commit)."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT id, spec, remaining FROM sb_faults WHERE remaining > 0 ORDER BY id"
            ).fetchall()
            if not rows:
                return None
            with self._store.transaction() as conn:
                return self._consume(conn, rows, method, path)

    @staticmethod
    def _consume(conn: sqlite3.Connection, rows: Sequence[Any], method: str,
                 path: str) -> Fault | None:
        for row in rows:
            fault = Fault(id=int(row[0]), remaining=int(row[2]) - 1, **json.loads(row[1]))
            if fault.method and fault.method != method.upper():
                continue
            if not fnmatch.fnmatchcase(path.lower(), fault.path.lower()):
                continue
            conn.execute("UPDATE sb_faults SET remaining = remaining - 1 WHERE id = ?",
                         (fault.id,))
            return fault
        return None


def status_body(status: int, message: str | None = None) -> bytes:
    """Exact's OData error body for an injected status (500: "An error has occurred.")."""
    if message is None:
        if status == 500:
            message = "An error has occurred."
        else:
            try:
                message = http.HTTPStatus(status).phrase
            except ValueError:
                message = "Error"
    return json.dumps(odata_error_body(message), separators=(",", ":")).encode()


def truncate(body: bytes) -> bytes:
    """The first half of a body (at least one byte short of it)."""
    return body[: max(len(body) // 2, 0)] if len(body) > 1 else b"{"


def abort_connection(environ: dict[str, Any]) -> None:
    """Reset the client's TCP connection without a response, then unwind the request.

    werkzeug's dev server exposes the socket as ``werkzeug.socket``; SO_LINGER 0 + shutdown
    makes the peer see a reset / closed connection. The ConnectionResetError raised here is
    one werkzeug's handler treats as "connection dropped": it logs nothing, sends nothing and
    keeps serving other connections.
    """
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionResetError("sandbox fault: connection reset")
