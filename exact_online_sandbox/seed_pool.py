"""A big division's accounts, contacts and items made in worker processes, in their order.

Each of those rows is a function of its number (``seed_crm.Crm``), so parts of the sequence
can be made side by side on the machine's other cores while this process writes the parts
before them. Worker ``i`` of ``w`` makes parts ``i``, ``i + w``, … and writes each, pickled,
to its stdout; they are read back in turn, so the rows and their Timestamps are exactly
``Crm.rows()``'s. A worker is a plain ``python -m exact_online_sandbox.seed_pool`` (no
multiprocessing: nothing of the caller's ``__main__`` is imported again, no fork of a
process whose threads may hold locks), and it waits on its pipe while its finished part is
unread, so memory stays flat. Below :data:`PARALLEL_ROWS` rows the rows are made in process
(starting the workers would cost more than it saves).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from typing import IO, Any

from .seed_crm import Crm, StoredText

PARALLEL_ROWS = 100_000
"""Accounts, contacts and items in a division from which they are made by workers."""
PART = 10_000
"""Accounts, other contacts or items a worker makes at a time (about 8 MB of JSON)."""


def workers() -> int:
    """Worker processes for a big seed: the cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def crm_rows(seed: int, division: int, country: str, anchor: int, counts: dict[str, int],
             *, processes: int | None = None, part: int | None = None,
             threshold: int | None = None) -> Iterator[StoredText]:
    """``Crm(seed, division, country, anchor, counts).rows()``, made by ``processes``
    workers (default: :func:`workers`) in parts of ``part`` (:data:`PART`) when the
    division has ``threshold`` (:data:`PARALLEL_ROWS`) rows or more."""
    crm = Crm(seed, division, country, anchor, counts)
    processes = workers() if processes is None else processes
    part = PART if part is None else part
    threshold = PARALLEL_ROWS if threshold is None else threshold
    parts = crm.parts(part)
    if processes < 2 or len(parts) < 2 or \
            crm.n_accounts + crm.n_contacts + crm.n_items < threshold:
        yield from crm.rows()
        return
    processes = min(processes, len(parts))
    spec = {"args": [seed, division, country, anchor, counts], "part": part}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "exact_online_sandbox.seed_pool",
         json.dumps({**spec, "worker": i, "of": processes})],
        stdout=subprocess.PIPE, env=env) for i in range(processes)]
    try:
        for index in range(len(parts)):
            stream = procs[index % processes].stdout
            assert stream is not None
            try:
                rows: list[StoredText] = pickle.load(stream)
            except EOFError:
                raise RuntimeError(f"seed worker {index % processes} of division {division} "
                                   "stopped before its part was made") from None
            yield from rows
            del rows
        for proc in procs:
            if proc.wait() != 0:
                raise RuntimeError(f"seed worker of division {division} exited with "
                                   f"{proc.returncode}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def work(spec: dict[str, Any], out: IO[bytes]) -> None:
    """A worker: parts ``worker``, ``worker + of``, … of the division's rows, pickled to
    ``out`` one part at a time."""
    crm = Crm(*spec["args"])
    for part in crm.parts(int(spec["part"]))[int(spec["worker"])::int(spec["of"])]:
        pickle.dump(list(crm.part_rows(part)), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


if __name__ == "__main__":
    work(json.loads(sys.argv[1]), sys.stdout.buffer)
