"""The sandbox's fixed CPU cost per request: an empty sync page, against a 1,000-row one.

    .venv/bin/python benchmarks/sandbox_request_cost.py            # 1000 empty, 100 full pages

As ``benchmarks/sandbox.py``: the sandbox in its own process on an on-disk store of 10,000
rows in division 100001, ``sync/CRM/Accounts`` with the connector's ``$select`` over one
``requests`` session; the CPU is the sandbox process's ``utime + stime`` (10 ms ticks) per
request. An empty page (``Timestamp gt`` beyond the last row) is what every request costs
whatever it serves: the HTTP server, the token, faults, rate limit, call log, the query.
Prints one line; the load average at the end is printed with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import DIVISION, split  # noqa: E402
from benchmarks.sandbox import SELECTS, cpu_seconds  # noqa: E402
from exact_online_sandbox.server import Sandbox  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="empty pages requested (full pages: a tenth)")
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="exact-sandbox-request-"))
    sandbox = Sandbox(seed=42, size=split(10_000), process=True, data_dir=data,
                      divisions=1).start()
    try:
        assert sandbox._proc is not None
        pid = sandbox._proc.pid
        sandbox.set_limits(minutely=10**9, daily=10**9, token_daily=10**6)
        session = requests.Session()
        session.headers.update({"Accept": "application/json",
                                "Authorization": f"Bearer {sandbox.access_token()}"})
        figures = []
        for label, after, count in (("empty page", "99999999999L", args.requests),
                                    ("1,000-row page", "0L", max(args.requests // 10, 1))):
            url = (f"{sandbox.api_url}/{DIVISION}/sync/CRM/Accounts?$filter=Timestamp gt "
                   f"{after}&$select={SELECTS['sync/CRM/Accounts']}")
            cpu = cpu_seconds(pid)
            for _ in range(count):
                session.get(url, timeout=60).raise_for_status()
            figures.append(f"{label} {(cpu_seconds(pid) - cpu) / count * 1000:.2f} ms "
                           f"({count} requests)")
        session.close()
    finally:
        sandbox.stop()
        shutil.rmtree(data, ignore_errors=True)
    print(f"sandbox CPU per request: {'; '.join(figures)}; load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
