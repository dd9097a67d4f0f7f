"""The receiver's HTTP server: a fixed pool of workers, read timeouts, one request per connection.

A thread per connection lets anyone hold thousands of threads with half-sent requests. Here a
fixed number of workers handle connections from a short queue; a connection that finds the
queue full is closed at once (Exact retries a delivery that failed). Every read waits at
most ``read_timeout`` seconds, and a request whose headers and body have not all arrived
within ``request_deadline`` seconds is cut off, so a slow sender frees its worker too.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import sys
import threading
import time
from typing import Any

from werkzeug.serving import WSGIRequestHandler

from exact_online_core.listen import RaisingBind
from exact_online_core.webhook_receiver import BODY_READ, BODY_REFUSED, Receiver

log = logging.getLogger("exact_online_core.webhooks")

WORKERS = 16
QUEUED = 32
READ_TIMEOUT = 10.0
REQUEST_DEADLINE = 30.0


class _Deadlines:
    """Connections still receiving their request, and when each must be done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._open: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="receiver-deadlines",
                                        daemon=True)
        self._thread.start()

    def start(self, connection: socket.socket) -> None:
        with self._lock:
            self._open[connection] = time.monotonic() + self.seconds

    def done(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.pop(connection, None)

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, self.seconds / 4)):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, deadline in self._open.items() if deadline <= now]
                for conn in late:
                    del self._open[conn]
            for conn in late:  # a blocked read returns at once
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _stop_reading(connection: socket.socket) -> None:
    """The rest of a refused body is not wanted: no draining it after the answer."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RD)


class _Handler(WSGIRequestHandler):
    """One request per connection (werkzeug closes after each), quiet, with deadlines."""

    server: ReceiverServer

    @property
    def _deadlines(self) -> _Deadlines:
        assert self.server.deadlines is not None
        return self.server.deadlines

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout)  # every recv on this connection
        self._deadlines.start(self.connection)

    def finish(self) -> None:
        self._deadlines.done(self.connection)
        super().finish()

    def make_environ(self) -> Any:
        environ = super().make_environ()
        connection, deadlines = self.connection, self._deadlines
        environ[BODY_READ] = lambda: deadlines.done(connection)
        environ[BODY_REFUSED] = lambda: _stop_reading(connection)
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class ReceiverServer(RaisingBind):
    """A werkzeug WSGI server with a bounded worker pool instead of a thread per connection."""

    multithread = True

    def __init__(self, host: str, port: int, app: Receiver, *, workers: int = WORKERS,
                 queued: int = QUEUED, read_timeout: float = READ_TIMEOUT,
                 request_deadline: float = REQUEST_DEADLINE) -> None:
        self.read_timeout = read_timeout
        self.rejected = 0
        """Connections closed unserved because every worker was busy and the queue full."""
        self._queue: queue.Queue[tuple[Any, Any] | None] = queue.Queue(maxsize=queued)
        self._workers: list[threading.Thread] = []
        self.deadlines: _Deadlines | None = None
        super().__init__(host, port, app, handler=_Handler)  # binds: may raise OSError
        self.deadlines = _Deadlines(request_deadline)
        self._workers = [threading.Thread(target=self._work, name=f"receiver-{n}", daemon=True)
                         for n in range(workers)]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            self._queue.put_nowait((request, client_address))
        except queue.Full:
            self.rejected += 1
            self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("a request from %s failed: %s", client_address[0], sys.exc_info()[1])

    def server_close(self) -> None:
        super().server_close()
        for _ in self._workers:
            try:
                self._queue.put(None, timeout=1)
            except queue.Full:
                break
        for worker in self._workers:
            worker.join(timeout=5)
        if self.deadlines is not None:
            self.deadlines.close()


def make_receiver_server(receiver: Receiver, host: str, port: int, *, workers: int = WORKERS,
                         read_timeout: float = READ_TIMEOUT,
                         request_deadline: float = REQUEST_DEADLINE) -> ReceiverServer:
    """The receiver's server (``port`` 0 picks a free port); ``serve_forever()`` runs it."""
    if workers < 1 or read_timeout <= 0 or request_deadline <= 0:
        raise ValueError("workers, read_timeout and request_deadline must be positive")
    return ReceiverServer(host, port, receiver, workers=workers, queued=2 * workers,
                          read_timeout=read_timeout, request_deadline=request_deadline)


__all__ = ["ReceiverServer", "make_receiver_server"]
