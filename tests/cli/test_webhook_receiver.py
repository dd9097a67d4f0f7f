"""The webhook receiver without a network: signature, mapping, durable log, replays."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from exact_online_core.errors import (
    ConfigError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from exact_online_core.webhook_log import EventLog, read_events
from exact_online_core.webhook_receiver import MAX_BODY, Receiver
from exact_online_core.webhooks import sign, split_notification, topic_for_model

SECRET = "sandbox-webhook-secret"
KEY = "0f2b7c4e-1111-4222-8333-444455556666"


def content_bytes(action: str = "Update", topic: str = "Accounts", key: str = KEY) -> bytes:
    # Deliberately not json.dumps' own spacing: the receiver must hash the bytes as sent.
    return (
        f'{{ "Topic": "{topic}", "ClientId": "sandbox-client", "Division": 100001, '
        f'"Action": "{action}", "Key": "{key}", "Naam": "Caf\\u00e9 \u00e9", '
        '"EventCreatedOn": "2024-05-01T10:00:00.123"}'
    ).encode()


def body(content: bytes, hash_code: str | None = None) -> bytes:
    code = hash_code if hash_code is not None else sign(SECRET, content)
    return b'{"Content": ' + content + b', "HashCode": "' + code.encode() + b'"}'


class FakeApi:
    def __init__(self, record: dict[str, Any] | None = None,
                 error: Exception | None = None) -> None:
        self.record = record
        self.error = error
        self.calls: list[tuple[str, int, str]] = []

    def retrieve(self, model: str, division: int, id: str) -> dict[str, Any]:
        self.calls.append((model, division, id))
        if self.error is not None:
            raise self.error
        assert self.record is not None
        return {**self.record, "id": id, "division": division}


def receiver(tmp_path: Path, api: FakeApi | None = None) -> Receiver:
    return Receiver(SECRET, EventLog(tmp_path / "events.jsonl"),
                    api.retrieve if api is not None else None, clock=lambda: 1_700_000_000.0)


CREATED = {"name": "Acme", "created_at": "2024-05-01T08:00:00Z",
           "updated_at": "2024-05-01T08:00:00Z"}
UPDATED = {"name": "Acme", "created_at": "2024-04-01T08:00:00Z",
           "updated_at": "2024-05-01T08:00:00Z"}


def test_split_notification_keeps_the_raw_content_bytes() -> None:
    content = content_bytes()
    assert split_notification(body(content)).content_raw == content


def test_empty_validation_post_is_answered_200(tmp_path: Path) -> None:
    status, _ = receiver(tmp_path).handle(b"")
    assert status == 200


def test_valid_update_of_a_new_row_is_stored_as_created_with_the_record(tmp_path: Path) -> None:
    api = FakeApi(CREATED)
    status, answer = receiver(tmp_path, api).handle(body(content_bytes()))
    assert (status, answer["type"]) == (200, "generic_company.created")
    [event] = read_events(tmp_path / "events.jsonl")
    assert event["record"]["name"] == "Acme"
    assert (event["model"], event["division"], event["id"]) == ("generic_company", 100001, KEY)
    assert api.calls == [("generic_company", 100001, KEY)]


def test_update_of_an_older_row_is_stored_as_updated(tmp_path: Path) -> None:
    _, answer = receiver(tmp_path, FakeApi(UPDATED)).handle(body(content_bytes()))
    assert answer["type"] == "generic_company.updated"


def test_delete_is_stored_without_fetching(tmp_path: Path) -> None:
    api = FakeApi(CREATED)
    _, answer = receiver(tmp_path, api).handle(body(content_bytes("Delete")))
    assert answer["type"] == "generic_company.deleted"
    assert api.calls == []


def test_replayed_delivery_is_stored_once(tmp_path: Path) -> None:
    hook = receiver(tmp_path, FakeApi(UPDATED))
    payload = body(content_bytes())
    assert hook.handle(payload)[0] == 200
    status, answer = hook.handle(payload)
    assert (status, answer["duplicate"]) == (200, True)
    assert len(list(read_events(tmp_path / "events.jsonl"))) == 1


def test_forged_hashcode_is_rejected_with_401(tmp_path: Path) -> None:
    status, _ = receiver(tmp_path).handle(body(content_bytes(), "A" * 64))
    assert status == 401
    assert not list(read_events(tmp_path / "events.jsonl"))


def test_altered_content_is_rejected_with_401(tmp_path: Path) -> None:
    signed = sign(SECRET, content_bytes())
    status, _ = receiver(tmp_path).handle(body(content_bytes("Delete"), signed))
    assert status == 401


def test_hashcode_of_reserialised_content_is_rejected(tmp_path: Path) -> None:
    content = content_bytes()
    reserialised = json.dumps(json.loads(content), separators=(",", ":")).encode()
    status, _ = receiver(tmp_path).handle(body(content, sign(SECRET, reserialised)))
    assert status == 401


def test_unsigned_body_is_rejected_with_401(tmp_path: Path) -> None:
    status, _ = receiver(tmp_path).handle(b'{"Content": {"Topic": "Accounts"}}')
    assert status == 401


def test_body_that_is_not_json_is_rejected_with_400(tmp_path: Path) -> None:
    assert receiver(tmp_path).handle(b'{"Content": {')[0] == 400


def test_duplicate_members_are_rejected(tmp_path: Path) -> None:
    content = content_bytes()
    raw = body(content)[:-1] + b', "Content": {}}'
    assert receiver(tmp_path).handle(raw)[0] == 400


def test_transient_fetch_failure_answers_503_and_stores_nothing(tmp_path: Path) -> None:
    api = FakeApi(error=ServerError("failed with 503"))
    status, _ = receiver(tmp_path, api).handle(body(content_bytes()))
    assert status == 503
    assert not list(read_events(tmp_path / "events.jsonl"))


def test_row_gone_before_fetch_is_stored_without_record(tmp_path: Path) -> None:
    api = FakeApi(error=NotFoundError("failed with 404"))
    status, answer = receiver(tmp_path, api).handle(body(content_bytes()))
    assert (status, answer["type"]) == (200, "generic_company.updated")
    [event] = read_events(tmp_path / "events.jsonl")
    assert event["record"] is None and "no longer exists" in event["record_error"]


def test_unknown_topic_is_stored_as_an_exact_event(tmp_path: Path) -> None:
    _, answer = receiver(tmp_path).handle(body(content_bytes(topic="SalesOrders")))
    assert answer["type"] == "exact.salesorders.updated"


def test_event_ids_survive_reopening_the_log(tmp_path: Path) -> None:
    payload = body(content_bytes())
    first = receiver(tmp_path, FakeApi(UPDATED))
    first.handle(payload)
    first.log.close()
    second = receiver(tmp_path, FakeApi(UPDATED))
    assert second.handle(payload)[1]["duplicate"] is True
    assert len(second.log) == 1


def test_torn_last_line_is_dropped_on_open(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event_id": "a", "type": "x"}\n{"event_id": "b", "ty')
    with EventLog(path) as event_log:
        assert len(event_log) == 1
    assert path.read_bytes() == b'{"event_id": "a", "type": "x"}\n'


def test_second_receiver_on_the_same_log_is_refused(tmp_path: Path) -> None:
    with EventLog(tmp_path / "events.jsonl"), pytest.raises(ConfigError):
        EventLog(tmp_path / "events.jsonl")


def test_event_log_file_is_private(tmp_path: Path) -> None:
    with EventLog(tmp_path / "events.jsonl"):
        pass
    assert (tmp_path / "events.jsonl").stat().st_mode & 0o077 == 0


def test_receiver_needs_a_webhook_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="webhook_secret"):
        Receiver("", EventLog(tmp_path / "events.jsonl"))


def test_models_without_a_topic_are_refused() -> None:
    with pytest.raises(ValidationError, match="no webhook topic"):
        topic_for_model("generic_user")
    assert topic_for_model("genericCompany") == "Accounts"


# -- hostile bodies: signature first, nothing authentic lost --------------------------------------

DEEP_CONTENT = b"[" * 200_000 + b"]" * 200_000


def test_deeply_nested_content_with_a_forged_signature_is_rejected_with_401(
    tmp_path: Path,
) -> None:
    status, answer = receiver(tmp_path).handle(body(DEEP_CONTENT, "A" * 64))
    assert status == 401, answer
    assert not list(read_events(tmp_path / "events.jsonl"))


def test_deeply_nested_content_that_is_signed_is_stored_with_its_bytes(tmp_path: Path) -> None:
    status, answer = receiver(tmp_path).handle(body(DEEP_CONTENT))
    assert status == 200, answer
    [event] = read_events(tmp_path / "events.jsonl")
    assert base64.b64decode(event["content_base64"]) == DEEP_CONTENT
    assert event["content"] is None and event["type"] == "exact.unreadable"


def test_signed_content_with_a_lone_surrogate_is_stored_with_its_bytes(tmp_path: Path) -> None:
    content = content_bytes().replace(b"Caf\\u00e9", b"Caf\\ud800")
    status, answer = receiver(tmp_path, FakeApi(UPDATED)).handle(body(content))
    assert status == 200, answer
    [event] = read_events(tmp_path / "events.jsonl")
    assert base64.b64decode(event["content_base64"]) == content
    assert (event["type"], event["id"]) == ("generic_company.updated", KEY)


def test_signed_content_that_is_not_utf8_is_stored_with_its_bytes(tmp_path: Path) -> None:
    content = content_bytes().replace("Caf\\u00e9 \u00e9".encode(), b"Caf\xe9 \xff")
    status, answer = receiver(tmp_path).handle(body(content))
    assert status == 200, answer
    [event] = read_events(tmp_path / "events.jsonl")
    assert base64.b64decode(event["content_base64"]) == content


def test_an_unreadable_event_is_stored_once(tmp_path: Path) -> None:
    hook = receiver(tmp_path)
    assert hook.handle(body(DEEP_CONTENT))[0] == 200
    assert hook.handle(body(DEEP_CONTENT))[1]["duplicate"] is True


class CountingInput:
    """An endless request body that counts what the application reads."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else min(size, 65536)
        self.read_bytes += size
        return b"x" * size

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def post_environ(stream: CountingInput, headers: dict[str, str]) -> dict[str, Any]:
    environ = EnvironBuilder(path="/exact/webhooks", method="POST").get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = stream
    for name, value in headers.items():
        environ[name] = value
    return environ


def call(app: Receiver, environ: dict[str, Any]) -> int:
    statuses: list[str] = []
    b"".join(app(environ, lambda status, headers, *exc: statuses.append(status)))
    return int(statuses[0].split()[0])


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    stream = CountingInput()
    environ = post_environ(stream, {"HTTP_TRANSFER_ENCODING": "chunked",
                                    "wsgi.input_terminated": True})
    assert call(receiver(tmp_path), environ) == 413
    assert stream.read_bytes <= MAX_BODY + 65536


def test_a_body_announced_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    stream = CountingInput()
    environ = post_environ(stream, {"CONTENT_LENGTH": str(800 * 1024 * 1024)})
    assert call(receiver(tmp_path), environ) == 413
    assert stream.read_bytes == 0
