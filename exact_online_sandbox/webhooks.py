"""Exact's webhooks: per-app subscriptions, signed change notifications, retries with back-off.

Subscribing POSTs an empty body to the CallbackURL first and stores nothing unless it answers
200/201. Every backend change of an entity with a ``webhook_topic`` is queued (the backend's
listener only enqueues, so API requests never wait) and a worker thread delivers
``{"Content":{…},"HashCode":"<UPPER HEX HMAC-SHA256(webhook secret, Content bytes)>"}``, with
the Content serialised once and embedded byte for byte. A failed delivery is retried up to 10
times, retry n at 2^n minutes of sandbox time after the previous failure. Every attempt
(including the subscription check, ``kind: "validation"``, attempt 0) is logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from exact_online_sandbox.backend import Change
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.errors import ExactApiError
from exact_online_sandbox.oauth import OAuth
from exact_online_sandbox.store import Store

log = logging.getLogger("exact_online_sandbox.webhooks")

MAX_RETRIES = 10
CALLBACK_TIMEOUT = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sb_subscriptions (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, division INTEGER NOT NULL,
    topic TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sb_webhook_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, body BLOB NOT NULL,
    attempt INTEGER NOT NULL, due_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sb_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL,
    url TEXT NOT NULL, status INTEGER, attempt INTEGER NOT NULL, body TEXT NOT NULL,
    error TEXT
);
"""


@dataclass(frozen=True)
class _Event:
    change: Change
    at: float
    base_url: str


def _iso(epoch: float) -> str:
    """``2020-01-06T16:26:08.587``: ISO without zone, milliseconds (Exact's EventCreatedOn)."""
    t = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _key_literal(key: str | int) -> str:
    return f"({key})" if isinstance(key, int) else f"(guid'{key}')"


def client_guid(client_id: str) -> str:
    """An app's client id as Exact's Edm.Guid ``ClientID`` (sandbox ids need not be GUIDs)."""
    try:
        return str(uuid.UUID(client_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"exact-client:{client_id}"))


def sign(secret: str, content: bytes) -> str:
    return hmac.new(secret.encode(), content, hashlib.sha256).hexdigest().upper()


class Webhooks:
    """Subscriptions (per app, per division) and the delivery worker."""

    def __init__(self, store: Store, clock: Clock, oauth: OAuth,
                 user: Callable[[], dict[str, Any]]) -> None:
        self._store = store
        self._clock = clock
        self._oauth = oauth
        self._user = user
        self._events: queue.Queue[_Event] = queue.Queue()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.base_url = "http://127.0.0.1"
        store.ensure_schema(_SCHEMA)

    # ---- subscriptions ----------------------------------------------------------------

    def subscribe(self, client_id: str, division: int, body: dict[str, Any],
                  topics: set[str]) -> dict[str, Any]:
        topic, url = body.get("Topic"), body.get("CallbackURL")
        if not isinstance(topic, str) or not topic or not isinstance(url, str) or not url:
            raise ExactApiError(400, "Mandatory: Topic, CallbackURL")
        canonical = next((t for t in topics if t.lower() == topic.lower()), None)
        if canonical is None:
            raise ExactApiError(400, f"Invalid topic: {topic}")
        with self._store.transaction() as conn:
            dup = conn.execute(
                "SELECT 1 FROM sb_subscriptions WHERE client_id = ? AND division = ? "
                "AND lower(topic) = lower(?)", (client_id, division, canonical)).fetchone()
        if dup is not None:
            raise ExactApiError(500, "Data already exists")
        status, error = self._post(url, b"")
        self._log("validation", url, status, 0, "", error)
        if status not in (200, 201):
            raise ExactApiError(
                400, f"Webhook subscription failed: the callback URL {url} did not answer "
                "the validation request with 200 or 201 OK")
        user = self._user()
        row: dict[str, Any] = {
            "ID": str(uuid.uuid4()), "CallbackURL": url, "ClientID": client_guid(client_id),
            "Created": self._clock.exact_now_ms(), "Creator": user.get("UserID"),
            "CreatorFullName": user.get("FullName"), "Description": body.get("Description"),
            "Division": division, "IsInstant": bool(body.get("IsInstant", False)),
            "Topic": canonical, "UserID": user.get("UserID"),
        }
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO sb_subscriptions VALUES (?, ?, ?, ?, ?)",
                         (row["ID"], client_id, division, canonical, json.dumps(row)))
        return row

    def subscriptions(self, client_id: str, division: int) -> list[dict[str, Any]]:
        """An app sees only its own subscriptions."""
        with self._store.transaction() as conn:
            rows = conn.execute(
                "SELECT data FROM sb_subscriptions WHERE client_id = ? AND division = ? "
                "ORDER BY rowid", (client_id, division)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def get(self, client_id: str, division: int, sub_id: str) -> dict[str, Any]:
        for row in self.subscriptions(client_id, division):
            if row["ID"] == sub_id.lower():
                return row
        raise ExactApiError(404, "Record not found")

    def delete(self, client_id: str, division: int, sub_id: str) -> None:
        self.get(client_id, division, sub_id)
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sb_subscriptions WHERE id = ?", (sub_id.lower(),))

    # ---- notifications ----------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Backend listener: enqueue only (never blocks, never touches the store)."""
        if change.entity.webhook_topic:
            self._events.put(_Event(change, self._clock.now(), self.base_url))
            self._wake.set()

    def _enqueue(self, event: _Event) -> None:
        change = event.change
        topic = change.entity.webhook_topic or ""
        with self._store.transaction() as conn:
            subs = conn.execute(
                "SELECT client_id, data FROM sb_subscriptions WHERE division = ? "
                "AND lower(topic) = lower(?)", (change.division, topic)).fetchall()
            for client_id, data in subs:
                app = self._oauth.app(client_id)
                if app is None:
                    continue
                callback = json.loads(data)["CallbackURL"]
                content = json.dumps({
                    "Topic": topic, "ClientId": client_id, "Division": change.division,
                    "Action": "Delete" if change.action == "Delete" else "Update",
                    "Key": str(change.key),
                    "ExactOnlineEndpoint": f"{event.base_url}/api/v1/{change.division}/"
                                           f"{change.entity.path}{_key_literal(change.key)}",
                    "EventCreatedOn": _iso(event.at),
                }, separators=(",", ":")).encode()
                body = (b'{"Content":' + content + b',"HashCode":"'
                        + sign(app.webhook_secret, content).encode() + b'"}')
                conn.execute("INSERT INTO sb_webhook_queue (url, body, attempt, due_at) "
                             "VALUES (?, ?, 1, ?)", (callback, body, event.at))

    def _deliver_due(self) -> None:
        now = self._clock.now()
        with self._store.transaction() as conn:
            due = conn.execute("SELECT id, url, body, attempt FROM sb_webhook_queue "
                               "WHERE due_at <= ? ORDER BY due_at, id", (now,)).fetchall()
        for item_id, url, body, attempt in due:
            if self._stop.is_set():
                return
            attempted_at = self._clock.now()  # back-off counts from the attempt itself
            status, error = self._post(url, bytes(body))
            self._log("notification", url, status, int(attempt), bytes(body).decode(), error)
            with self._store.transaction() as conn:
                if status in (200, 201) or int(attempt) > MAX_RETRIES:
                    conn.execute("DELETE FROM sb_webhook_queue WHERE id = ?", (item_id,))
                else:
                    retry_at = attempted_at + 60 * 2 ** int(attempt)
                    conn.execute("UPDATE sb_webhook_queue SET attempt = attempt + 1, due_at = ? "
                                 "WHERE id = ?", (retry_at, item_id))

    def _post(self, url: str, body: bytes) -> tuple[int | None, str | None]:
        try:
            response = requests.post(url, data=body, timeout=CALLBACK_TIMEOUT,
                                     headers={"Content-Type": "application/json"})
        except requests.RequestException as exc:
            return None, type(exc).__name__
        return response.status_code, None

    def _log(self, kind: str, url: str, status: int | None, attempt: int, body: str,
             error: str | None) -> None:
        log.info("webhook %s %s attempt %d -> %s", kind, url, attempt, status or error)
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO sb_deliveries (at, kind, url, status, attempt, body, error)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (self._clock.now(), kind, url, status, attempt, body, error))

    def deliveries(self) -> list[dict[str, Any]]:
        with self._store.transaction() as conn:
            rows = conn.execute("SELECT at, kind, url, status, attempt, body, error "
                                "FROM sb_deliveries ORDER BY id").fetchall()
        return [{"at": r[0], "kind": r[1], "url": r[2], "status": r[3], "attempt": r[4],
                 "body": r[5], "error": r[6]} for r in rows]

    def reset_log(self) -> None:
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sb_deliveries")

    def pending(self) -> int:
        with self._store.transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM sb_webhook_queue").fetchone()[0]
        return int(count) + self._events.qsize()

    def reset(self) -> None:
        while not self._events.empty():
            self._events.get_nowait()
        with self._store.transaction() as conn:
            for table in ("sb_subscriptions", "sb_webhook_queue", "sb_deliveries"):
                conn.execute(f"DELETE FROM {table}")

    # ---- worker -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=CALLBACK_TIMEOUT + 1)
            self._thread = None

    def poke(self) -> None:
        """Wake the worker (e.g. after the clock moved) so due retries go out now."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=0.1)
            self._wake.clear()
            try:
                while not self._events.empty():
                    self._enqueue(self._events.get_nowait())
                self._deliver_due()
            except Exception:  # keep delivering after an unexpected error
                log.exception("webhook worker error")
