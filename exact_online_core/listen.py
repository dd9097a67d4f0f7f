"""werkzeug servers that raise OSError when they cannot listen, instead of exiting the process.

werkzeug's ``BaseWSGIServer`` prints the reason and calls ``sys.exit(1)`` when binding fails;
a command should rather say which address could not be used, in its own one-line error.
"""

from __future__ import annotations

from typing import Any

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler


class _CannotListen(Exception):
    """Carries the OSError past werkzeug's handler (which only catches OSError)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class RaisingBind(BaseWSGIServer):
    """A ``BaseWSGIServer`` whose constructor raises the OSError of a failed bind or listen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(*args, **kwargs)
        except _CannotListen as cannot:
            raise cannot.error from None

    def server_bind(self) -> None:
        try:
            super().server_bind()
        except OSError as exc:
            raise _CannotListen(exc) from exc

    def server_activate(self) -> None:
        try:
            super().server_activate()
        except OSError as exc:
            raise _CannotListen(exc) from exc


class _ThreadedRaisingBind(RaisingBind, ThreadedWSGIServer):
    pass


def make_threaded_server(host: str, port: int, app: Any,
                         handler: type[WSGIRequestHandler]) -> BaseWSGIServer:
    """werkzeug's threaded server on ``host:port``; OSError when it cannot listen there."""
    return _ThreadedRaisingBind(host, port, app, handler=handler)


__all__ = ["RaisingBind", "make_threaded_server"]
