"""Webhooks: subscription check, per-app subscriptions, signed deliveries, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any

from exact_online_sandbox.server import Sandbox

SUBS = "webhooks/WebhookSubscriptions"


def _wait(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _subscribe(sb: Sandbox, token: str, url: str, topic: str = "Accounts") -> Any:
    return sb.call(token, SUBS, "POST", json={"Topic": topic, "CallbackURL": url,
                                             "Description": "test"})


def _first_account(sb: Sandbox, token: str) -> str:
    return str(sb.call(token, "crm/Accounts?$top=1&$select=ID").json()["d"][0]["ID"])


def test_subscribe_posts_an_empty_body_to_the_callback_first(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    response = _subscribe(sandbox, token, receiver.url)
    assert response.status_code == 201
    assert response.json()["d"]["Topic"] == "Accounts"
    assert [r.body for r in receiver.received] == [b""]


def test_subscribe_fails_and_stores_nothing_when_callback_refuses(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    receiver.statuses.append(500)
    response = _subscribe(sandbox, token, receiver.url)
    assert response.status_code == 400
    assert "callback" in response.json()["error"]["message"]["value"].lower()
    assert sandbox.call(token, SUBS).json()["d"]["results"] == []


def test_duplicate_subscription_is_500_data_already_exists(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    _subscribe(sandbox, token, receiver.url)
    response = _subscribe(sandbox, token, receiver.url)
    assert response.status_code == 500
    assert response.json()["error"]["message"]["value"] == "Data already exists"


def test_an_app_sees_only_its_own_subscriptions(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    _subscribe(sandbox, token, receiver.url)
    sandbox.register_app("other-app", ["organization.administration:manage"])
    other = sandbox.access_token("other-app")
    assert sandbox.call(other, SUBS).json()["d"]["results"] == []
    assert len(sandbox.call(token, SUBS).json()["d"]["results"]) == 1


def test_subscription_can_be_deleted(sandbox: Sandbox, token: str, receiver: Any) -> None:
    sub_id = _subscribe(sandbox, token, receiver.url).json()["d"]["ID"]
    assert sandbox.call(token, f"{SUBS}(guid'{sub_id}')", "DELETE").status_code == 204
    assert sandbox.call(token, SUBS).json()["d"]["results"] == []


def test_change_is_delivered_signed_with_hmac_of_raw_content(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    _subscribe(sandbox, token, receiver.url)
    account = _first_account(sandbox, token)
    sandbox.call(token, f"crm/Accounts(guid'{account}')", "PUT", json={"Name": "Renamed"})
    body = _wait(receiver.notifications)[0].body
    match = re.fullmatch(rb'\{"Content":(.*),"HashCode":"([0-9A-F]{64})"\}', body)
    assert match is not None
    expected = hmac.new(sandbox.webhook_secret.encode(), match.group(1),
                        hashlib.sha256).hexdigest().upper()
    assert hmac.compare_digest(match.group(2).decode(), expected)
    content = json.loads(match.group(1))
    assert content["Topic"] == "Accounts"
    assert content["Action"] == "Update"
    assert content["Key"] == account
    assert content["Division"] == 100001
    assert content["ClientId"] == sandbox.client_id
    assert content["ExactOnlineEndpoint"] == (
        f"{sandbox.base_url}/api/v1/100001/crm/Accounts(guid'{account}')")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", content["EventCreatedOn"])


def test_create_arrives_as_update_and_delete_as_delete(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    _subscribe(sandbox, token, receiver.url)
    created = sandbox.call(token, "crm/Accounts", "POST", json={"Name": "New"})
    key = created.json()["d"]["ID"]
    sandbox.call(token, f"crm/Accounts(guid'{key}')", "DELETE")
    bodies = _wait(lambda: len(receiver.notifications()) >= 2 and receiver.notifications())
    actions = [json.loads(r.body)["Content"]["Action"] for r in bodies]
    assert actions == ["Update", "Delete"]


def test_other_topics_and_divisions_are_not_delivered(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    _subscribe(sandbox, token, receiver.url, topic="Items")
    sandbox.call(token, "crm/Accounts", "POST", json={"Name": "New"})
    sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Other"}, division=100002)
    time.sleep(0.5)
    assert receiver.notifications() == []


def test_failed_delivery_is_retried_after_two_minutes_of_sandbox_time(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    _subscribe(sandbox, token, receiver.url)
    receiver.statuses.append(500)
    sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Retry me"})
    _wait(lambda: any(d["status"] == 500 for d in sandbox.deliveries()))
    time.sleep(0.3)
    assert len(receiver.notifications()) == 1
    sandbox.advance_clock(120)
    _wait(lambda: len(receiver.notifications()) == 2)
    attempts = [(d["attempt"], d["status"]) for d in sandbox.deliveries()
                if d["kind"] == "notification"]
    assert attempts == [(1, 500), (2, 200)]
    assert receiver.notifications()[0].body == receiver.notifications()[1].body


def test_delivery_log_records_validation_and_notifications(
        sandbox: Sandbox, token: str, receiver: Any) -> None:
    _subscribe(sandbox, token, receiver.url)
    sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Logged"})
    log = _wait(lambda: len(sandbox.deliveries()) >= 2 and sandbox.deliveries())
    assert [(d["kind"], d["url"], d["status"]) for d in log] == [
        ("validation", receiver.url, 200), ("notification", receiver.url, 200)]
    assert log[1]["body"].startswith('{"Content":')
