"""Divisions read in parallel: workers read pages ahead, the main thread emits in the usual order.

Each Exact division has its own call budget (60 a minute, 5000 a day), so divisions can be
read at the same time. The Singer output must not change: streams one after another, each
stream's divisions in order, a STATE after every page. So a bounded set of worker threads
reads the pages of every (stream, division) into a :class:`Channel` each, and the main thread
takes the channels in exactly the order it always did.

A worker never waits for the main thread except on the channel the main thread is emitting
(which it drains at CPU speed): a page read ahead beyond a few in memory is pickled to a
temporary file, so memory stays at a few pages per worker however far the workers run
ahead, and no division's minute budget is left unused while another one is emitted. A
worker takes, page by page, the first division in order whose minute budget is not spent,
so a division waiting for its minute window never holds a worker.

An error reading a division is handed to the main thread at the point where that page would
have been emitted, and raised there: it names the call and its division, like before.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from exact_online_core.api import RecordPage

HEAD_PAGES = 2
"""Pages the channel being emitted holds in memory before its worker waits for the emitter."""


@dataclass(frozen=True)
class _Spilled:
    offset: int
    length: int


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


class Channel:
    """One stream's pages in one division, in reading order: in memory or spilled to a file."""

    def __init__(self, stream: str, division: int) -> None:
        self.stream = stream
        self.division = division
        self.entries: deque[Any] = deque()
        self.in_memory = 0
        self._fd: int | None = None
        self._size = 0
        self._closed = False

    def spill(self, page: RecordPage) -> _Spilled:
        """Write ``page`` to this channel's file (its one writer: the worker reading it)."""
        data = pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL)
        if self._fd is None and not self._closed:
            self._fd, path = tempfile.mkstemp(prefix="tap-exact-online-")
            os.unlink(path)  # the file vanishes with the process, however it ends
        if self._fd is None:  # the run has ended: nobody will read this page
            return _Spilled(self._size, 0)
        os.pwrite(self._fd, data, self._size)
        spilled = _Spilled(self._size, len(data))
        self._size += len(data)
        return spilled

    def unspill(self, spilled: _Spilled) -> RecordPage:
        assert self._fd is not None
        page: RecordPage = pickle.loads(os.pread(self._fd, spilled.length, spilled.offset))
        return page

    def close(self) -> None:
        self._closed = True
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


@dataclass
class _Division:
    code: int
    pending: deque[tuple[Channel, Iterator[RecordPage]]] = field(default_factory=deque)
    busy: bool = False


class Prefetch:
    """The workers, the channels, and the main thread's view of them.

    ``ready_at(division)``: 0.0 when a call for the division would go out now, else the
    time its minute window resets (the core's rate limiter); ``now``: that same clock.
    """

    def __init__(
        self,
        workers: int,
        ready_at: Callable[[int], float],
        now: Callable[[], float],
    ) -> None:
        self.workers = max(1, workers)
        self._ready_at = ready_at
        self._now = now
        self._cond = threading.Condition()
        self._memory = 0
        self._budget = self.workers
        self._head: Channel | None = None
        self._divisions: list[_Division] = []
        self._channels: list[Channel] = []
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # -- setting up ------------------------------------------------------------------------

    def channel(self, stream: str, division: int) -> Channel:
        channel = Channel(stream, division)
        with self._cond:
            self._channels.append(channel)
        return channel

    def start(self, work: Iterable[tuple[int, list[tuple[Channel, Iterator[RecordPage]]]]]) -> None:
        """Read the rest of every channel's pages: (division, [(channel, pages), ...])."""
        with self._cond:
            self._divisions = [_Division(code, deque(items)) for code, items in work]
        for number in range(self.workers):
            thread = threading.Thread(
                target=self._work, name=f"division-worker-{number + 1}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """No more reading (the run ends or failed); temporary files go."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=0.2)
        if any(thread.is_alive() for thread in self._threads):
            return  # a worker is still in a call: its files close with the process
        with self._cond:
            for channel in self._channels:
                channel.close()

    # -- the workers -----------------------------------------------------------------------

    def put(self, channel: Channel, page: RecordPage) -> None:
        """Queue a page read for ``channel``: in memory while few are held, else on disk."""
        with self._cond:
            while channel is self._head and channel.in_memory >= HEAD_PAGES:
                if self._stopping:
                    return
                self._cond.wait(1.0)
            if channel is self._head or self._memory < self._budget:
                channel.entries.append(page)
                channel.in_memory += 1
                self._memory += 1
                self._cond.notify_all()
                return
        spilled = channel.spill(page)
        with self._cond:
            channel.entries.append(spilled)
            self._cond.notify_all()

    def end(self, channel: Channel) -> None:
        with self._cond:
            channel.entries.append(_END)
            self._cond.notify_all()

    def fail(self, channel: Channel, error: BaseException) -> None:
        with self._cond:
            channel.entries.append(_Failed(error))
            self._cond.notify_all()

    def _pick(self) -> _Division | None:
        """The first division in order that is free and may call now (else the soonest)."""
        if self._stopping:
            return None
        free = [d for d in self._divisions if d.pending and not d.busy]
        if not free:
            return None
        waits = {d.code: self._ready_at(d.code) for d in free}
        now = self._now()
        for division in free:
            if waits[division.code] <= now:
                return division
        return min(free, key=lambda d: waits[d.code])

    def _work(self) -> None:
        while True:
            with self._cond:
                division = self._pick()
                if division is None:
                    return
                division.busy = True
            channel, pages = division.pending[0]
            try:
                page = next(pages, None)
            except BaseException as error:
                with self._cond:
                    for waiting, _ in division.pending:
                        waiting.entries.append(_Failed(error))
                    division.pending.clear()
                    division.busy = False
                    self._cond.notify_all()
                continue
            if page is None:
                self.end(channel)
                with self._cond:
                    division.pending.popleft()
            else:
                self.put(channel, page)
            with self._cond:
                division.busy = False
                self._cond.notify_all()

    # -- the main thread -------------------------------------------------------------------

    def pages(self, channel: Channel) -> Iterator[RecordPage]:
        """The channel's pages in order; a worker's error is raised where it happened."""
        with self._cond:
            self._head = channel
            self._cond.notify_all()
        try:
            while True:
                with self._cond:
                    while not channel.entries:
                        self._cond.wait()
                    entry = channel.entries.popleft()
                    if isinstance(entry, RecordPage):
                        channel.in_memory -= 1
                        self._memory -= 1
                        self._cond.notify_all()
                if entry is _END:
                    return
                if isinstance(entry, _Failed):
                    raise entry.error
                yield channel.unspill(entry) if isinstance(entry, _Spilled) else entry
        except BaseException:
            self.stop()  # the run ends here (an error, or the emitter gave up)
            raise
        finally:
            with self._cond:
                if self._head is channel:
                    self._head = None
                channel.close()


__all__ = ["HEAD_PAGES", "Channel", "Prefetch"]
