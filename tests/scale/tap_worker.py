"""One worker of the scale tests: the real tap, run in this process on the sandbox's clock.

``python tap_worker.py CONFIG [SECONDS]``: syncs the config's divisions, Singer messages to
stdout; then, when SECONDS (of the sandbox's clock) is given, keeps calling Exact
(``current/Me``, every 30 sandbox seconds) until that long after its first answer from
Exact (which came with its first token), as a long-running worker would: the token keeps
rotating under the store's lock while the other workers still sync, however fast the sync
was.
The core gets the sandbox's (fast) clock, so its token ages and rate-limit waits agree with
the sandbox's: the executables would count real seconds and refresh only after a 401.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import exact_online_core.api as api_module
from exact_online_core.config import ExactConfig
from tap_exact_online.tap import TapExactOnline
from tests.reliability.scaled_clock import SandboxClock, patched_core_clock


def main(config_path: str, seconds: float | None = None) -> int:
    config = json.loads(Path(config_path).read_text())
    clock = SandboxClock.of(config["base_url"])
    answered: list[float] = []
    with patched_core_clock(clock, answered):
        TapExactOnline(config=config).sync_all()
        if seconds is not None:
            until = min(answered, default=clock.now()) + seconds
            with api_module.ExactOnline(ExactConfig.from_mapping(config)) as exact:
                while clock.now() < until:
                    exact.client.me()
                    clock.sleep(30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None))
