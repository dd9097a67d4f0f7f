"""Shared fixtures: the sandbox as a real HTTP server on 127.0.0.1, and core clients for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exact_online_core.auth import TokenBroker, broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.http import ExactClient
from exact_online_sandbox.server import Sandbox


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("consistency", "the randomized consistency suite")
    group.addoption("--consistency-seed", type=int, default=None,
                    help="seed of tests/reliability/test_consistency.py (default: fixed)")
    group.addoption("--consistency-rounds", type=int, default=None,
                    help="rounds per variant of the consistency suite (default: 52)")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox (thread, in-memory SQLite, seed 42) on a free port of 127.0.0.1."""
    with Sandbox(seed=42) as sb:
        yield sb


@pytest.fixture
def settings(sandbox: Sandbox, tmp_path: Path) -> dict[str, Any]:
    """Plain connector settings for the sandbox, with a freshly consented refresh token."""
    return {
        "base_url": sandbox.base_url,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "redirect_uri": sandbox.redirect_uri,
        "refresh_token": sandbox.mint_refresh_token(),
        "token_store": str(tmp_path / "tokens.json"),
        "divisions": [100001, 100002],
        "max_retries": 4,
    }


@pytest.fixture
def config(settings: dict[str, Any]) -> ExactConfig:
    return ExactConfig.from_mapping(settings)


class SleepRecorder:
    """A ``sleep`` that moves the sandbox clock instead of waiting, and remembers each wait."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if seconds > 0:
            self.sandbox.advance_clock(seconds)


@pytest.fixture
def sleeper(sandbox: Sandbox) -> SleepRecorder:
    return SleepRecorder(sandbox)


@pytest.fixture
def make_client(
    config: ExactConfig, sandbox: Sandbox, sleeper: SleepRecorder
) -> Iterator[Callable[..., ExactClient]]:
    """Clients on the sandbox's clock: waits advance sandbox time, so tests never sleep."""
    clients: list[ExactClient] = []

    def make(broker: TokenBroker | None = None, **overrides: Any) -> ExactClient:
        chosen = broker or broker_from_config(config, clock=sandbox.now)
        client = ExactClient(config, chosen, sleep=sleeper, clock=sandbox.now, **overrides)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., ExactClient]) -> ExactClient:
    return make_client()
