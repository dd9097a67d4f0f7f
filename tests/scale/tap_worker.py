"""One worker of the scale tests: the real tap, run in this process on the sandbox's clock.

``python tap_worker.py CONFIG [SECONDS] [--answered FILE]``: syncs the config's divisions,
Singer messages to stdout; then, when SECONDS (of the sandbox's clock) is given, keeps
calling Exact (``current/Me``, every 30 sandbox seconds) until that long after its first
answer from Exact (which came with its first token), as a long-running worker would: the
token keeps rotating under the store's lock while the other workers still sync, however fast
the sync was. ``--answered FILE``: the sandbox times of the sync's first and last answer,
and its answers per division and status, as JSON (benchmarks/division_workers.py measures a
sync in sandbox time).
The core gets the sandbox's (fast) clock, so its token ages and rate-limit waits agree with
the sandbox's: the executables would count real seconds and refresh only after a 401.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import exact_online_core.api as api_module
from exact_online_core.config import ExactConfig
from tap_exact_online.tap import TapExactOnline
from tests.reliability.scaled_clock import SandboxClock, patched_core_clock

DIVISION_IN_URL = re.compile(r"/api/v1/(\d+)/")
"""The division of an API call (``-`` in the counts: the token endpoint)."""


def main(config_path: str, seconds: float | None = None, answered_path: str | None = None
         ) -> int:
    config = json.loads(Path(config_path).read_text())
    clock = SandboxClock.of(config["base_url"])
    answered: list[float] = []
    per_division: Counter[str] = Counter()
    lock = threading.Lock()

    def count(_now: float, response: requests.Response) -> None:
        found = DIVISION_IN_URL.search(response.url)
        with lock:
            per_division[f"{found.group(1) if found else '-'} {response.status_code}"] += 1

    with patched_core_clock(clock, answered, count):
        TapExactOnline(config=config).sync_all()
        if answered_path is not None:
            Path(answered_path).write_text(json.dumps({
                "first": min(answered), "last": max(answered), "count": len(answered),
                "by_division_status": dict(sorted(per_division.items()))}))
        if seconds is not None:
            until = min(answered, default=clock.now()) + seconds
            with api_module.ExactOnline(ExactConfig.from_mapping(config)) as exact:
                while clock.now() < until:
                    exact.client.me()
                    clock.sleep(30)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("seconds", nargs="?", type=float)
    parser.add_argument("--answered", metavar="FILE")
    args = parser.parse_args()
    sys.exit(main(args.config, args.seconds, args.answered))
