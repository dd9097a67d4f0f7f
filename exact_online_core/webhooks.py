"""Exact Online webhooks: subscriptions per model, and a receiver with a durable event log.

Exact notifies ``{"Content":{…},"HashCode":"<UPPER HEX HMAC-SHA256>"}`` where the HMAC is
over the raw bytes of the Content object *as sent*, keyed with the app's webhook secret. The
payload names topic, action (``Update``/``Delete``, a create arrives as ``Update``), division
and key, but carries no data. The :class:`Receiver`:

1. answers the empty validation POST Exact sends when subscribing with 200;
2. cuts the Content bytes out of the raw body (no re-serialising), checks ``HashCode`` in
   constant time, and rejects anything unsigned or forged with 401;
3. maps Topic/Action to a unified event (``generic_company.created`` / ``.updated`` /
   ``.deleted``), fetching the changed row as a unified record (a create is an ``Update``
   whose row has ``created_at == updated_at``);
4. appends the event to an :class:`EventLog` (JSON lines, fsync'd, replays ignored) and only
   then answers 200, so Exact retries whatever was not stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from exact_online_core.errors import (
    ConfigError,
    ExactError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from exact_online_core.http import ExactClient
from exact_online_core.mappings import get_model
from exact_online_core.odata import strip_metadata

log = logging.getLogger("exact_online_core.webhooks")

TOPICS: Mapping[str, str] = {
    "generic_company": "Accounts",
    "generic_contact": "Contacts",
    "accounting_invoice_item": "Items",
    "accounting_invoice": "SalesInvoices",
}
"""Unified model -> Exact webhook topic. (``Contacts`` is not confirmed as a topic on real
Exact Online: Exact then answers the subscription with 400 ``Invalid topic``.)"""

SUBSCRIPTIONS = "webhooks/WebhookSubscriptions"
MAX_BODY = 1024 * 1024
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX64 = re.compile(r"^[0-9A-Fa-f]{64}$")


# ---------------------------------------------------------------------------------------------
# topics and subscriptions
# ---------------------------------------------------------------------------------------------


def topic_for_model(model: str) -> str:
    """The Exact topic of a unified model; ValidationError for models Exact has no topic for."""
    name = get_model(model).name
    topic = TOPICS.get(name)
    if topic is None:
        known = ", ".join(f"{m} ({t})" for m, t in TOPICS.items())
        raise ValidationError(
            f"Exact Online has no webhook topic for {name}; models with webhooks: {known}"
        )
    return topic


def model_for_topic(topic: str) -> str | None:
    """The unified model of an Exact topic (case-insensitive), None for other topics."""
    for model, known in TOPICS.items():
        if known.lower() == (topic or "").lower():
            return model
    return None


class WebhookSubscriptions:
    """Exact's ``webhooks/WebhookSubscriptions`` for one app (an app sees only its own)."""

    def __init__(self, client: ExactClient) -> None:
        self.client = client

    def list(self, division: int, *, model: str | None = None,
             callback_url: str | None = None) -> list[dict[str, Any]]:
        """The app's subscriptions in ``division``, each with its unified ``model`` added."""
        topic = topic_for_model(model) if model else None
        found: list[dict[str, Any]] = []
        for row in self.client.iter_rows(SUBSCRIPTIONS, division=division):
            sub = strip_metadata(row)
            if topic and str(sub.get("Topic", "")).lower() != topic.lower():
                continue
            if callback_url and sub.get("CallbackURL") != callback_url:
                continue
            sub["model"] = model_for_topic(str(sub.get("Topic", "")))
            sub.setdefault("Division", division)
            found.append(sub)
        return found

    def subscribe(self, division: int, model: str, callback_url: str, *,
                  description: str | None = None) -> dict[str, Any]:
        """Subscribe ``callback_url`` to the model's topic (Exact POSTs it an empty body first)."""
        topic = topic_for_model(model)
        check_callback_url(callback_url)
        body: dict[str, Any] = {"Topic": topic, "CallbackURL": callback_url}
        if description:
            body["Description"] = description
        created = self.client.post(SUBSCRIPTIONS, body, division=division)
        row = strip_metadata(created or {})
        row["model"] = get_model(model).name
        return row

    def unsubscribe(self, division: int, subscription_id: str) -> None:
        if not _GUID.match(subscription_id or ""):
            raise ValidationError(f"{subscription_id!r} is not a subscription ID (a GUID)")
        self.client.delete(f"{SUBSCRIPTIONS}(guid'{subscription_id.lower()}')", division=division)


def check_callback_url(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"--callback-url must be an http(s) URL, got {url!r}")


# ---------------------------------------------------------------------------------------------
# notifications: parsing and signature
# ---------------------------------------------------------------------------------------------


class Rejected(Exception):
    """The request is not a notification we accept; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Notification:
    content_raw: bytes
    """The Content object's bytes exactly as received (what the HashCode signs)."""
    content: dict[str, Any]
    hash_code: str


def split_notification(raw: bytes) -> Notification:
    """Cut ``Content`` (raw bytes) and ``HashCode`` out of a notification body, unchanged.

    Walks the top-level JSON object with the standard decoder, keeping the exact span of the
    Content value, so the bytes hashed are the bytes Exact sent (no re-serialising).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "the body is not UTF-8") from None
    decoder = json.JSONDecoder()
    members: dict[str, tuple[Any, int, int]] = {}
    pos = _skip_ws(text, 0)
    if not text.startswith("{", pos):
        raise Rejected(400, "the body is not a JSON object")
    pos = _skip_ws(text, pos + 1)
    try:
        while not text.startswith("}", pos):
            if not text.startswith('"', pos):
                raise ValueError("expected a member name")
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip_ws(text, pos)
            if not text.startswith(":", pos):
                raise ValueError("expected ':'")
            start = _skip_ws(text, pos + 1)
            value, end = decoder.raw_decode(text, start)
            if key in members:
                raise Rejected(400, f"the member {key!r} appears twice")
            members[key] = (value, start, end)
            pos = _skip_ws(text, end)
            if text.startswith(",", pos):
                pos = _skip_ws(text, pos + 1)
            elif not text.startswith("}", pos):
                raise ValueError("expected ',' or '}'")
        if text[_skip_ws(text, pos + 1):]:
            raise ValueError("data after the object")
    except ValueError as exc:
        raise Rejected(400, f"the body is not valid JSON ({exc})") from None
    if "Content" not in members or "HashCode" not in members:
        raise Rejected(401, "no Content and HashCode: not a signed Exact Online notification")
    content, start, end = members["Content"]
    hash_code = members["HashCode"][0]
    if not isinstance(content, dict) or not isinstance(hash_code, str):
        raise Rejected(401, "Content must be an object and HashCode a string")
    return Notification(text[start:end].encode("utf-8"), content, hash_code)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def sign(secret: str, content_raw: bytes) -> str:
    """Exact's HashCode: upper-case hex HMAC-SHA256 of the raw Content bytes."""
    return hmac.new(secret.encode("utf-8"), content_raw, hashlib.sha256).hexdigest().upper()


def verify(secret: str, content_raw: bytes, hash_code: str) -> bool:
    """Constant-time check of ``hash_code`` against the HMAC of ``content_raw``."""
    if not _HEX64.match(hash_code or ""):
        return False
    return hmac.compare_digest(sign(secret, content_raw), hash_code.upper())


# ---------------------------------------------------------------------------------------------
# the event log
# ---------------------------------------------------------------------------------------------


class EventLog:
    """Append-only JSON lines, one verified event per line, fsync'd before a delivery is acked.

    ``event_id`` (a hash of the signed Content bytes) makes a replayed delivery a no-op, also
    across restarts: the ids are re-read on open. A torn last line (crash mid-write) is cut
    off on open; it was never acknowledged, so Exact re-sends it. One receiver per log: a
    second one on the same file is refused (``<file>.lock``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._process_lock = filelock.FileLock(str(self.path) + ".lock", timeout=0)
        try:
            self._process_lock.acquire()
        except filelock.Timeout:
            raise ConfigError(
                "--log", f"{self.path} is in use by another receiver ({self.path}.lock)"
            ) from None
        self._lock = threading.Lock()
        self._ids: set[str] = set()
        self._repair_and_load()
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if created:
            _fsync_dir(self.path.parent)

    def _repair_and_load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            log.warning("%s: dropping a torn last line (%d bytes)", self.path, len(data) - keep)
            with open(self.path, "r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
        for line in data[:keep].splitlines():
            with contextlib.suppress(ValueError, AttributeError):
                self._ids.add(str(json.loads(line)["event_id"]))

    def __contains__(self, event_id: object) -> bool:
        with self._lock:
            return event_id in self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def append(self, event: Mapping[str, Any]) -> bool:
        """Store ``event`` durably; False (nothing written) when its event_id is stored already."""
        line = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        event_id = str(event["event_id"])
        with self._lock:
            if event_id in self._ids:
                return False
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
            self._ids.add(event_id)
            return True

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self._process_lock.release()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The complete events stored in a log file (a torn last line is skipped)."""
    with open(Path(path).expanduser(), "rb") as handle:
        for line in handle:
            if line.endswith(b"\n"):
                yield json.loads(line)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# the receiver
# ---------------------------------------------------------------------------------------------

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
        try:
            event = self._event(event_id, notification.content)
        except TRANSIENT as exc:
            log.warning("event %s not stored, Exact will retry: %s", event_id, exc)
            return 503, {"error": f"could not fetch the changed row yet: {exc}"}
        stored = self.log.append(event)
        if stored:
            log.info("stored %s division %s id %s", event["type"], event["division"], event["id"])
        return 200, {"ok": True, "event_id": event_id, "type": event["type"],
                     "duplicate": not stored}

    def _event(self, event_id: str, content: Mapping[str, Any]) -> dict[str, Any]:
        topic = str(content.get("Topic") or "")
        exact_action = str(content.get("Action") or "")
        model = model_for_topic(topic)
        division = content.get("Division")
        key = str(content.get("Key") or "").lower()
        record: dict[str, Any] | None = None
        record_error: str | None = None
        if exact_action.lower() == "delete":
            action = "deleted"
        else:
            action = "updated"
            if model and self._fetch is not None and isinstance(division, int) and key:
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
            "type": f"{prefix}.{action}",
            "model": model,
            "action": action,
            "division": division,
            "id": key,
            "topic": topic,
            "exact_action": exact_action,
            "occurred_at": content.get("EventCreatedOn"),
            "received_at": datetime.fromtimestamp(self._clock(), UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "record": record,
            "record_error": record_error,
            "content": dict(content),
        }

    # -- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method == "GET" and request.path.rstrip("/").endswith("/health"):
            response = _json(200, {"ok": True, "events": len(self.log)})
        elif request.method != "POST":
            response = _json(405, {"error": "Exact Online notifications are POSTed"})
        elif (request.content_length or 0) > MAX_BODY:
            response = _json(413, {"error": "body too large"})
        else:
            raw = request.get_data(cache=False, as_text=False, parse_form_data=False)
            try:
                status, answer = self.handle(raw)
            except Exception:  # never 200 for something not stored
                log.exception("webhook handling failed")
                status, answer = 500, {"error": "internal error; not stored"}
            if status >= 400:
                log.warning("%s %s -> %d %s", request.method, request.path, status,
                            answer.get("error"))
            response = _json(status, answer)
        return response(environ, start_response)


def _is_create(record: Mapping[str, Any]) -> bool:
    """Exact sends creates as Update: a row never modified since it was created is new."""
    created, updated = record.get("created_at"), record.get("updated_at")
    return created is not None and created == updated


def _json(status: int, body: Mapping[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def make_receiver_server(receiver: Receiver, host: str, port: int) -> BaseWSGIServer:
    """A threaded werkzeug server for ``receiver`` (``port`` 0 picks a free port)."""
    return make_server(host, port, receiver, threaded=True, request_handler=_QuietHandler)


__all__ = [
    "TOPICS",
    "EventLog",
    "Notification",
    "Receiver",
    "Rejected",
    "WebhookSubscriptions",
    "make_receiver_server",
    "model_for_topic",
    "read_events",
    "sign",
    "split_notification",
    "topic_for_model",
    "verify",
]
