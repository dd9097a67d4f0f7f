"""`exact-online webhooks subscribe|list|unsubscribe` against the sandbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exact_online_cli import main
from exact_online_core.webhook_log import EventLog
from exact_online_core.webhook_receiver import Receiver
from exact_online_core.webhook_server import make_receiver_server
from exact_online_sandbox.server import Sandbox


@pytest.fixture
def callback_url(tmp_path: Path, sandbox: Sandbox) -> Iterator[str]:
    """A receiver (no fetching) in a thread, to answer Exact's validation POST."""
    event_log = EventLog(tmp_path / "events.jsonl")
    server = make_receiver_server(Receiver(sandbox.webhook_secret, event_log), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/exact/webhooks"
    server.shutdown()
    thread.join()
    event_log.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err


def test_subscribe_list_and_unsubscribe_round_trip(
    sandbox: Sandbox, config_file: str, callback_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, created, _ = run(capsys, "webhooks", "subscribe", "--model", "generic_company",
                             "--callback-url", callback_url, "--config", config_file)
    assert status == 0
    assert [(s["Topic"], s["Division"], s["model"]) for s in created] == [
        ("Accounts", 100001, "generic_company"), ("Accounts", 100002, "generic_company")]
    validations = [d for d in sandbox.deliveries() if d["kind"] == "validation"]
    assert [d["status"] for d in validations] == [200, 200]

    status, listed, _ = run(capsys, "webhooks", "list", "--config", config_file)
    assert status == 0
    assert {s["ID"] for s in listed} == {s["ID"] for s in created}
    assert all(s["CallbackURL"] == callback_url for s in listed)

    status, removed, _ = run(capsys, "webhooks", "unsubscribe", "--model", "generic_company",
                             "--callback-url", callback_url, "--config", config_file)
    assert status == 0 and len(removed) == 2
    assert run(capsys, "webhooks", "list", "--config", config_file)[1] == []


def test_subscribe_refuses_a_model_without_a_topic(
    sandbox: Sandbox, config_file: str, callback_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.clear_calls()
    status, _, err = run(capsys, "webhooks", "subscribe", "--model", "generic_user",
                         "--callback-url", callback_url, "--config", config_file)
    assert status == 1 and "no webhook topic for generic_user" in err
    assert sandbox.calls()["total"] == 0


def test_subscribe_fails_clearly_when_the_callback_does_not_answer(
    config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "webhooks", "subscribe", "--model", "generic_company",
                         "--callback-url", "http://127.0.0.1:9/nothing", "--division",
                         "100001", "--config", config_file)
    assert status == 1 and err.startswith("error: POST webhooks/WebhookSubscriptions")


def test_unsubscribe_with_nothing_matching_exits_1(
    config_file: str, callback_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "webhooks", "unsubscribe", "--model", "accounting_invoice_item",
                         "--callback-url",
                         callback_url, "--config", config_file)
    assert status == 1 and "no subscription matched" in err
