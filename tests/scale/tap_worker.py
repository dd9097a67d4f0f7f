"""One worker of the scale tests: the real tap, run in this process on the sandbox's clock.

``python tap_worker.py CONFIG``: syncs the config's divisions, Singer messages to stdout.
The core gets the sandbox's (fast) clock, so its token ages and rate-limit waits agree with
the sandbox's: the executables would count real seconds and refresh only after a 401.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tap_exact_online.tap import TapExactOnline
from tests.reliability.scaled_clock import SandboxClock, patched_core_clock


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    with patched_core_clock(SandboxClock.of(config["base_url"])):
        TapExactOnline(config=config).sync_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
