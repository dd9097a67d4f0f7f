"""Singer tap for Exact Online, a thin layer over exact_online_core."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (10_000, 10, 10)
"""The collector's thresholds in the console script: its young generation is collected after
10,000 new container objects instead of 700. A sync makes millions (every page's rows), and
nearly all of them die young, freed at once; at 700 the pages in flight were walked again
and again and moved to the older generations, whose passes walked them once more
(docs/benchmarks.md)."""


def main() -> None:
    """The ``tap-exact-online`` console script: the thresholds before the SDK's import."""
    gc.set_threshold(*GC_THRESHOLDS)
    from tap_exact_online.tap import main as tap_main

    tap_main()
