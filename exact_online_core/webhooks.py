"""Exact Online webhooks: topics, subscriptions, and the notification signature.

Exact notifies ``{"Content":{…},"HashCode":"<UPPER HEX HMAC-SHA256>"}`` where the HMAC is
over the raw bytes of the Content object *as sent*, keyed with the app's webhook secret.
:func:`split_notification` cuts those bytes out without parsing them and :func:`verify`
checks the HashCode in constant time; the receiver (``webhook_receiver``) parses Content only
after that. The payload names topic, action (``Update``/``Delete``, a create arrives as
``Update``), division and key, but carries no data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from exact_online_core.errors import ValidationError
from exact_online_core.http import ExactClient
from exact_online_core.mappings import get_model
from exact_online_core.odata import strip_metadata

TOPICS: Mapping[str, str] = {
    "generic_company": "Accounts",
    "generic_contact": "Contacts",
    "accounting_invoice_item": "Items",
    "accounting_invoice": "SalesInvoices",
}
"""Unified model -> Exact webhook topic. (``Contacts`` is not confirmed as a topic on real
Exact Online: Exact then answers the subscription with 400 ``Invalid topic``.)"""

SUBSCRIPTIONS = "webhooks/WebhookSubscriptions"
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
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"--callback-url must be an http(s) URL, got {url!r}")


# ---------------------------------------------------------------------------------------------
# notifications: the signature, checked on the raw bytes before any parsing
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
    """The Content value's bytes exactly as received (what the HashCode signs)."""
    hash_code: str


def split_notification(raw: bytes) -> Notification:
    """Cut ``Content`` (raw bytes) and ``HashCode`` out of a notification body, unparsed.

    Only the top-level object is walked, on bytes and without recursion: nesting depth,
    invalid UTF-8 or odd escapes inside Content cannot fail here, and nothing inside Content
    is parsed before its signature is checked (:func:`verify`).
    """
    members = _top_level_members(raw)
    if "Content" not in members or "HashCode" not in members:
        raise Rejected(401, "no Content and HashCode: not a signed Exact Online notification")
    start, end = members["HashCode"]
    try:
        hash_code = json.loads(raw[start:end]) if raw[start:start + 1] == b'"' else None
    except ValueError:
        hash_code = None
    if not isinstance(hash_code, str):
        raise Rejected(401, "HashCode must be a string")
    start, end = members["Content"]
    return Notification(raw[start:end], hash_code)


def _top_level_members(raw: bytes) -> dict[str, tuple[int, int]]:
    """Member name -> (start, end) of its value's bytes, for a top-level JSON object."""
    pos = _skip_ws(raw, 0)
    if raw[pos:pos + 1] != b"{":
        raise Rejected(400, "the body is not a JSON object")
    members: dict[str, tuple[int, int]] = {}
    pos = _skip_ws(raw, pos + 1)
    try:
        while raw[pos:pos + 1] != b"}":
            if raw[pos:pos + 1] != b'"':
                raise ValueError("expected a member name")
            name_end = _string_end(raw, pos)
            name = json.loads(raw[pos:name_end])
            pos = _skip_ws(raw, name_end)
            if raw[pos:pos + 1] != b":":
                raise ValueError("expected ':'")
            start = _skip_ws(raw, pos + 1)
            end = _value_end(raw, start)
            if name in members:
                raise Rejected(400, f"the member {name!r} appears twice")
            members[name] = (start, end)
            pos = _skip_ws(raw, end)
            if raw[pos:pos + 1] == b",":
                pos = _skip_ws(raw, pos + 1)
            elif raw[pos:pos + 1] != b"}":
                raise ValueError("expected ',' or '}'")
        if _skip_ws(raw, pos + 1) != len(raw):
            raise ValueError("data after the object")
    except ValueError as exc:  # also UnicodeDecodeError in a member name
        raise Rejected(400, f"the body is not valid JSON ({exc})") from None
    return members


_WS = b" \t\r\n"
_STRUCTURE = re.compile(rb'["\[\]{}]')
_SCALAR_END = re.compile(rb"[\s,\]}]")


def _skip_ws(raw: bytes, pos: int) -> int:
    while pos < len(raw) and raw[pos] in _WS:
        pos += 1
    return pos


def _string_end(raw: bytes, start: int) -> int:
    """The index after the closing quote of the string starting at ``start``."""
    pos = start + 1
    while True:
        quote = raw.find(b'"', pos)
        if quote < 0:
            raise ValueError("unterminated string")
        before = quote - 1
        while before > start and raw[before] == 0x5C:  # a run of backslashes
            before -= 1
        if (quote - 1 - before) % 2 == 0:
            return quote + 1
        pos = quote + 1


def _value_end(raw: bytes, start: int) -> int:
    """The index after the value starting at ``start`` (objects and arrays by depth count)."""
    first = raw[start:start + 1]
    if first == b'"':
        return _string_end(raw, start)
    if first not in (b"{", b"["):
        match = _SCALAR_END.search(raw, start)
        end = match.start() if match else len(raw)
        if end == start:
            raise ValueError("expected a value")
        return end
    depth, pos = 0, start
    while True:
        match = _STRUCTURE.search(raw, pos)
        if match is None:
            raise ValueError("unterminated object or array")
        char = raw[match.start()]
        if char == 0x22:  # a string: skip it whole
            pos = _string_end(raw, match.start())
            continue
        depth += 1 if char in (0x7B, 0x5B) else -1
        pos = match.end()
        if depth == 0:
            return pos


def sign(secret: str, content_raw: bytes) -> str:
    """Exact's HashCode: upper-case hex HMAC-SHA256 of the raw Content bytes."""
    return hmac.new(secret.encode("utf-8"), content_raw, hashlib.sha256).hexdigest().upper()


def verify(secret: str, content_raw: bytes, hash_code: str) -> bool:
    """Constant-time check of ``hash_code`` against the HMAC of ``content_raw``."""
    if not _HEX64.match(hash_code or ""):
        return False
    return hmac.compare_digest(sign(secret, content_raw), hash_code.upper())


__all__ = [
    "TOPICS",
    "Notification",
    "Rejected",
    "WebhookSubscriptions",
    "model_for_topic",
    "sign",
    "split_notification",
    "topic_for_model",
    "verify",
]
