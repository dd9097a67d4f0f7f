"""The webhook receiver: verified notifications become unified events in a durable log.

For every POST, the :class:`Receiver`:

1. reads at most :data:`MAX_BODY` bytes, whether the body is sized or chunked (413 beyond);
2. answers the empty validation POST Exact sends when subscribing with 200;
3. cuts the Content bytes out of the raw body and checks ``HashCode`` on them *before any
   parsing* (401 for anything unsigned or forged, however it is nested or encoded);
4. maps Topic/Action to a unified event (``generic_company.created`` / ``.updated`` /
   ``.deleted``), fetching the changed row as a unified record (a create is an ``Update``
   whose row has ``created_at == updated_at``);
5. appends the event to the :class:`~exact_online_core.webhook_log.EventLog` and only then
   answers 200, so Exact retries whatever was not stored. An authentic event is always
   stored: Content that is not valid UTF-8 JSON (a lone surrogate, invalid bytes, nesting
   too deep to parse) is kept as ``content_base64``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_content_length, get_input_stream

from exact_online_core.errors import (
    ConfigError,
    ExactError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from exact_online_core.webhook_log import EventLog
from exact_online_core.webhooks import Rejected, model_for_topic, split_notification, verify

log = logging.getLogger("exact_online_core.webhooks")

MAX_BODY = 1024 * 1024
"""The largest notification body read (Exact's are well under 1 KB): 413 beyond."""

BODY_READ = "exact_online.body_read"
"""WSGI environ key: a callable the server may provide, called once the body is read."""
BODY_REFUSED = "exact_online.body_refused"
"""WSGI environ key: a callable the server may provide, called when the body is refused."""

Fetch = Callable[[str, int, str], dict[str, Any]]
"""(model, division, id) -> the unified record; NotFoundError when the row is gone."""

TRANSIENT = (ServerError, TransportError, RateLimitError)


class Receiver:
    """Verifies, maps, enriches and stores notifications; a WSGI app (``receiver(environ, …)``)."""

    def __init__(self, secret: str, event_log: EventLog, fetch: Fetch | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ConfigError("webhook_secret", "is required to verify webhook notifications "
                              "(the app's webhook secret from the Exact App Center)")
        self._secret = secret
        self.log = event_log
        self._fetch = fetch
        self._fetch_lock = threading.Lock()
        self._clock = clock

    def handle(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one POSTed body."""
        if not raw.strip():
            return 200, {"ok": True, "validation": True}
        try:
            notification = split_notification(raw)
        except Rejected as rejected:
            return rejected.status, {"error": rejected.message}
        if not verify(self._secret, notification.content_raw, notification.hash_code):
            return 401, {"error": "HashCode does not match the Content (wrong secret or altered)"}
        event_id = hashlib.sha256(notification.content_raw).hexdigest()[:32]
        if event_id in self.log:
            return 200, {"ok": True, "event_id": event_id, "duplicate": True}
        content, unreadable = _parse_content(notification.content_raw)
        try:
            event = self._event(event_id, content, unreadable)
        except TRANSIENT as exc:
            log.warning("event %s not stored, Exact will retry: %s", event_id, exc)
            return 503, {"error": f"could not fetch the changed row yet: {exc}"}
        stored = self.log.append(_storable(event, notification.content_raw))
        if stored:
            log.info("stored %s division %s id %s", event["type"], event["division"], event["id"])
        return 200, {"ok": True, "event_id": event_id, "type": event["type"],
                     "duplicate": not stored}

    def _event(self, event_id: str, content: Mapping[str, Any],
               unreadable: str | None) -> dict[str, Any]:
        topic = _text(content.get("Topic"))
        exact_action = _text(content.get("Action"))
        model = model_for_topic(topic)
        division = content.get("Division")
        key = _text(content.get("Key")).lower()
        record: dict[str, Any] | None = None
        record_error: str | None = unreadable
        if unreadable is not None:
            action = None
        elif exact_action.lower() == "delete":
            action = "deleted"
        else:
            action = "updated"
            if model and self._fetch is not None and _is_division(division) and key:
                try:
                    with self._fetch_lock:
                        record = self._fetch(model, division, key)
                except NotFoundError:
                    record_error = "the row no longer exists (deleted since; a delete follows)"
                except TRANSIENT:
                    raise
                except ExactError as exc:
                    record_error = str(exc)
                if record is not None and _is_create(record):
                    action = "created"
        prefix = model or f"exact.{topic.lower() or 'unknown'}"
        return {
            "event_id": event_id,
            "type": "exact.unreadable" if action is None else f"{prefix}.{action}",
            "model": model,
            "action": action,
            "division": division,
            "id": key or None,
            "topic": topic or None,
            "exact_action": exact_action or None,
            "occurred_at": content.get("EventCreatedOn"),
            "received_at": datetime.fromtimestamp(self._clock(), UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "record": record,
            "record_error": record_error,
            "content": dict(content) if unreadable is None else None,
        }

    # -- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method == "GET" and request.path.rstrip("/").endswith("/health"):
            response = _json(200, {"ok": True, "events": len(self.log)})
        elif request.method != "POST":
            response = _json(405, {"error": "Exact Online notifications are POSTed"})
        else:
            response = self._post(request, environ)
        return response(environ, start_response)

    def _post(self, request: Request, environ: dict[str, Any]) -> Response:
        try:
            raw = _read_body(environ)
        except (OSError, ClientDisconnected) as exc:  # stopped sending, or the read timed out
            log.warning("POST %s -> 408 body not received (%s)", request.path,
                        type(exc).__name__)
            return _json(408, {"error": "the body did not arrive in time"})
        if raw is None:
            log.warning("POST %s -> 413 body over %d bytes", request.path, MAX_BODY)
            refused = environ.get(BODY_REFUSED)
            if callable(refused):
                refused()
            response = _json(413, {"error": f"body too large (over {MAX_BODY} bytes)"})
            response.headers["Connection"] = "close"
            return response
        body_read = environ.get(BODY_READ)
        if callable(body_read):
            body_read()
        try:
            status, answer = self.handle(raw)
        except Exception:  # never 200 for something not stored
            log.exception("webhook handling failed")
            status, answer = 500, {"error": "internal error; not stored"}
        if status >= 400:
            log.warning("POST %s -> %d %s", request.path, status, answer.get("error"))
        return _json(status, answer)


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, sized or chunked, or None when it is over :data:`MAX_BODY`.

    Never more than ``MAX_BODY + 1`` bytes are read, however long the body is.
    """
    length = get_content_length(environ)
    if length is not None and length > MAX_BODY:
        return None
    stream = get_input_stream(environ, max_content_length=MAX_BODY + 1)
    chunks: list[bytes] = []
    total = 0
    while total <= MAX_BODY:
        chunk = stream.read(min(65536, MAX_BODY + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return None if total > MAX_BODY else b"".join(chunks)


def _parse_content(content_raw: bytes) -> tuple[dict[str, Any], str | None]:
    """The verified Content as an object, or ({}, why it cannot be read as UTF-8 JSON)."""
    try:
        content = json.loads(content_raw.decode("utf-8"))
    except UnicodeDecodeError:
        return {}, "Content is not valid UTF-8; kept as content_base64"
    except RecursionError:
        return {}, "Content is nested too deeply to parse; kept as content_base64"
    except ValueError as exc:
        return {}, f"Content is not valid JSON ({exc}); kept as content_base64"
    if not isinstance(content, dict):
        return {}, f"Content is a JSON {type(content).__name__}, not an object; kept as " \
            "content_base64"
    return content, None


def _storable(event: dict[str, Any], content_raw: bytes) -> dict[str, Any]:
    """``event`` as UTF-8 JSON can hold it: Content that cannot be is kept as base64 bytes."""
    if event["content"] is not None:
        try:
            json.dumps(event, ensure_ascii=False).encode("utf-8")
            return event
        except (UnicodeEncodeError, ValueError, RecursionError):
            pass
    kept = {name: _clean(value) for name, value in event.items() if name != "content"}
    kept["content"] = None
    kept["content_base64"] = base64.b64encode(content_raw).decode("ascii")
    return kept


def _clean(value: Any, depth: int = 0) -> Any:
    """Strings with lone surrogates get U+FFFD; anything too deep becomes its repr."""
    if depth > 50:
        return None
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_clean(k, depth + 1): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _is_division(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_create(record: Mapping[str, Any]) -> bool:
    """Exact sends creates as Update: a row never modified since it was created is new."""
    created, updated = record.get("created_at"), record.get("updated_at")
    return created is not None and created == updated


def _json(status: int, body: Mapping[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


__all__ = ["BODY_READ", "BODY_REFUSED", "MAX_BODY", "Receiver"]
