"""Fixtures for the sandbox tests: a fresh sandbox per test, API helpers, a webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from exact_online_sandbox.server import QuietHandler, Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox (thread, in-memory SQLite) on a free port of 127.0.0.1."""
    with Sandbox(seed=42) as sb:
        yield sb


@pytest.fixture
def token(sandbox: Sandbox) -> str:
    """An access token of ``sandbox-client`` (all scopes)."""
    return sandbox.access_token()


@dataclass
class Received:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A tiny HTTP server that records POSTs and answers with queued statuses (default 200)."""

    server: BaseWSGIServer
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def notifications(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.body]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    @Request.application  # type: ignore[arg-type]
    def wsgi(request: Request) -> Response:
        rec = holder["r"]
        with rec.lock:
            rec.received.append(Received(request.path, request.get_data(),
                                         dict(request.headers)))
            status = rec.statuses.pop(0) if rec.statuses else 200
        return Response(b"", status=status)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True, request_handler=QuietHandler)
    holder["r"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["r"]
    server.shutdown()
    server.server_close()
