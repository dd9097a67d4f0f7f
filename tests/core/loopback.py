"""Tiny real HTTP servers on 127.0.0.1 for tests that need a hostile or recording host."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Host:
    """A running loopback server: its base URL and every request it received."""

    base_url: str
    requests: list[Seen] = field(default_factory=list)


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def serve(answer: Callable[[Request], Response]) -> Iterator[Host]:
    """Run ``answer`` for every request on a free port; record what arrives."""
    host = Host("")

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        host.requests.append(Seen(request.method, request.full_path.rstrip("?"),
                                  dict(request.headers), body))
        return answer(request)(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    host.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
