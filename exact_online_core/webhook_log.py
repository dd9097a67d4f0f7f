"""The receiver's durable event log: JSON lines, fsync'd before a delivery is acknowledged."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import filelock

from exact_online_core.errors import ConfigError
from exact_online_core.paths import blocked_by_file

log = logging.getLogger("exact_online_core.webhooks")


class EventLog:
    """Append-only JSON lines, one verified event per line, fsync'd before a delivery is acked.

    ``event_id`` (a hash of the signed Content bytes) makes a replayed delivery a no-op, also
    across restarts: the ids are re-read on open. A torn last line (crash mid-write) is cut
    off on open; it was never acknowledged, so Exact re-sends it. One receiver per log: a
    second one on the same file is refused (``<file>.lock``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        blocker = blocked_by_file(self.path)
        if blocker is not None:
            raise ConfigError("--log", f"{self.path} cannot be used: {blocker} is a file, not "
                              "a directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._process_lock = filelock.FileLock(str(self.path) + ".lock", timeout=0)
            self._process_lock.acquire()
        except filelock.Timeout:
            raise ConfigError(
                "--log", f"{self.path} is in use by another receiver ({self.path}.lock)"
            ) from None
        except OSError as exc:
            raise ConfigError("--log", f"{self.path} cannot be used ({exc.strerror or exc})"
                              ) from None
        self._lock = threading.Lock()
        self._ids: set[str] = set()
        try:
            self._repair_and_load()
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            self._process_lock.release()
            raise ConfigError("--log", f"{self.path} cannot be used ({exc.strerror or exc})"
                              ) from None
        if created:
            _fsync_dir(self.path.parent)

    def _repair_and_load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            log.warning("%s: dropping a torn last line (%d bytes)", self.path, len(data) - keep)
            with open(self.path, "r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
        for line in data[:keep].splitlines():
            with contextlib.suppress(ValueError, AttributeError):
                self._ids.add(str(json.loads(line)["event_id"]))

    def __contains__(self, event_id: object) -> bool:
        with self._lock:
            return event_id in self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def append(self, event: Mapping[str, Any]) -> bool:
        """Store ``event`` durably; False (nothing written) when its event_id is stored already.

        The event must be encodable as UTF-8 JSON (UnicodeEncodeError otherwise, nothing
        written): the receiver keeps undecodable content as base64.
        """
        line = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        event_id = str(event["event_id"])
        with self._lock:
            if event_id in self._ids:
                return False
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
            self._ids.add(event_id)
            return True

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self._process_lock.release()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The complete events stored in a log file (a torn last line is skipped)."""
    with open(Path(path).expanduser(), "rb") as handle:
        for line in handle:
            if line.endswith(b"\n"):
                yield json.loads(line)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["EventLog", "read_events"]
