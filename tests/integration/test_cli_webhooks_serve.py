"""`exact-online webhooks serve` end to end: a subprocess subscribed in the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exact_online_cli import main
from exact_online_sandbox.server import Sandbox

DIVISION = 100001
POLL_TIMEOUT = 30.0


class ReceiverProcess:
    """`exact-online webhooks serve` as a real process on a fixed log and (after start) port."""

    def __init__(self, config: str, log: Path) -> None:
        self.config, self.log = config, log
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/exact/webhooks"

    def start(self) -> ReceiverProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXACT_ONLINE_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exact_online_cli", "webhooks", "serve", "--port",
             str(self.port), "--log", str(self.log), "--config", self.config],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "Listening on http://127.0.0.1:" in line, self.proc.stderr.read()  # type: ignore[union-attr]
        self.port = int(line.split("127.0.0.1:")[1].split("/")[0])
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.communicate(timeout=15)
            self.proc = None

    def events(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


@pytest.fixture
def config_file(settings: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "exact.json"
    path.write_text(json.dumps({**settings, "divisions": [DIVISION],
                                "webhook_secret": "sandbox-webhook-secret"}))
    return str(path)


@pytest.fixture
def receiver(config_file: str, tmp_path: Path) -> Iterator[ReceiverProcess]:
    process = ReceiverProcess(config_file, tmp_path / "events.jsonl").start()
    yield process
    process.stop()


@pytest.fixture
def subscribed(receiver: ReceiverProcess, config_file: str,
               capsys: pytest.CaptureFixture[str]) -> ReceiverProcess:
    status = main(["webhooks", "subscribe", "--model", "generic_company", "--callback-url",
                   receiver.url, "--config", config_file])
    capsys.readouterr()
    assert status == 0
    return receiver


@pytest.fixture
def exact(sandbox: Sandbox) -> Callable[..., requests.Response]:
    """Change rows in the sandbox through Exact's REST API with a grant of its own."""
    token = sandbox.access_token()

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        response = sandbox.call(token, path, method, division=DIVISION, **kwargs)
        assert response.status_code < 300, response.text
        return response

    return call


def wait_for(receiver: ReceiverProcess, predicate: Callable[[list[dict[str, Any]]], bool],
             timeout: float = POLL_TIMEOUT) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = receiver.events()
        if predicate(events):
            return events
        time.sleep(0.1)
    raise AssertionError(f"timed out; events so far: {receiver.events()}")


def of(events: list[dict[str, Any]], key: str) -> list[str]:
    return [e["type"] for e in events if e["id"] == key]


def create_account(exact: Callable[..., requests.Response], name: str) -> str:
    response = exact("POST", "crm/Accounts", json={"Name": name},
                     headers={"Prefer": "return=representation"})
    return str(response.json()["d"]["ID"]).lower()


def test_created_updated_deleted_account_become_unified_events_with_records(
    subscribed: ReceiverProcess, exact: Callable[..., requests.Response]
) -> None:
    key = create_account(exact, "Webhook BV")
    events = wait_for(subscribed, lambda ev: of(ev, key) == ["generic_company.created"])
    created = events[-1]
    assert created["division"] == DIVISION and created["record"]["name"] == "Webhook BV"
    assert created["record"]["id"] == key

    exact("PUT", f"crm/Accounts(guid'{key}')", json={"Name": "Webhook Renamed BV"})
    events = wait_for(subscribed, lambda ev: len(of(ev, key)) == 2)
    assert of(events, key)[1] == "generic_company.updated"
    assert events[-1]["record"]["name"] == "Webhook Renamed BV"

    exact("DELETE", f"crm/Accounts(guid'{key}')")
    events = wait_for(subscribed, lambda ev: len(of(ev, key)) == 3)
    assert of(events, key)[2] == "generic_company.deleted"
    assert events[-1]["record"] is None


def test_tampered_hashcode_gets_401_and_a_replay_is_stored_once(
    subscribed: ReceiverProcess, sandbox: Sandbox, exact: Callable[..., requests.Response]
) -> None:
    key = create_account(exact, "Replay BV")
    wait_for(subscribed, lambda ev: len(of(ev, key)) == 1)
    [delivery] = [d for d in sandbox.deliveries()
                  if d["kind"] == "notification" and key in d["body"].lower()]
    body: str = delivery["body"]
    code = body.rsplit('"HashCode":"', 1)[1][:64]
    tampered = body.replace(code, code[:-1] + ("0" if code[-1] != "0" else "1"))
    altered = body.replace("Update", "Delete")
    for forged in (tampered, altered):
        answer = requests.post(subscribed.url, data=forged.encode(), timeout=10)
        assert answer.status_code == 401
    replay = requests.post(subscribed.url, data=body.encode(), timeout=10)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert of(subscribed.events(), key) == ["generic_company.created"]


def test_receiver_restart_loses_nothing(
    subscribed: ReceiverProcess, sandbox: Sandbox, exact: Callable[..., requests.Response]
) -> None:
    first = create_account(exact, "Before Restart BV")
    wait_for(subscribed, lambda ev: len(of(ev, first)) == 1)
    subscribed.stop(signal.SIGKILL)  # a crash

    second = create_account(exact, "While Down BV")
    deadline = time.monotonic() + POLL_TIMEOUT
    while not any(d["kind"] == "notification" and second in d["body"].lower()
                  for d in sandbox.deliveries()):
        assert time.monotonic() < deadline, "the sandbox never tried to deliver"
        time.sleep(0.1)

    subscribed.start()  # same port and log
    sandbox.advance_clock(150)  # Exact retries after 2 minutes
    events = wait_for(subscribed, lambda ev: len(of(ev, second)) == 1)
    assert of(events, first) == ["generic_company.created"]  # kept, not duplicated
    assert next(e for e in events if e["id"] == second)["record"]["name"] == "While Down BV"
    assert requests.get(subscribed.url.rsplit("/", 2)[0] + "/health",
                        timeout=10).json()["events"] == len(events)
