"""``python -m exact_online_dagster discover``: add a partition for every division of the login.

What the ``exact_online_divisions`` sensor does on each tick, for deployments that add
partitions by hand or from a script (``DAGSTER_HOME`` names the instance).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from exact_online_core.errors import ExactError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exact_online_dagster",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("discover", help="ask Exact for the login's divisions; add the new ones "
                                    "as partitions of the Dagster instance (DAGSTER_HOME)")
    parser.parse_args(list(argv) if argv is not None else None)

    import dagster as dg

    from exact_online_dagster.definitions import add_partitions
    from exact_online_dagster.divisions import discover
    from exact_online_dagster.settings import Settings

    try:
        # Exact (and meltano) first: when they fail, the instance is not even opened.
        found = discover(Settings.from_env())
        with dg.DagsterInstance.get() as instance:
            before = set(instance.get_dynamic_partitions("exact_online_divisions"))
            add_partitions(instance, found=found)
    except (ExactError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    added = [key for key in found if key not in before]
    print(f"{len(found)} divisions, {len(added)} new partitions"
          + (f": {', '.join(added)}" if added else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
