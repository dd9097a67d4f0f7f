"""The tap's STATE layout, checked before use: a bad or foreign state is one clear error.

Every stream's bookmarks are kept per division (``partitions``, context ``{"division": N}``);
a partition holds the replication bookmark and the keys below. A state that is not shaped
so (damaged by hand, or written by another tap) would otherwise crash deep in the SDK or,
worse, be read as "never synced" and quietly skip deletions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from exact_online_core.mappings.converters import parse_rfc3339

PARTITION_KEY = "division"
DELETED_SINCE = "deleted_since"
"""Per-partition state key: the sync/Deleted Timestamp this stream has applied up to."""

STREAM_KEYS = frozenset({"partitions", "progress_markers", "replication_key_signpost",
                         "starting_replication_value"})
"""What the SDK keeps at stream level for a partitioned stream (bookmarks are per division)."""


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value >= 0) or (
        isinstance(value, str) and value.strip().isdigit())


def _instant(value: Any) -> bool:
    try:
        parse_rfc3339(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _bookmark(value: Any) -> bool:
    return value is None or _whole(value) or _instant(value)


def _seen(value: Any) -> bool:
    return isinstance(value, dict | list)


VALUE_CHECKS: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "replication_key_value": (_bookmark, "an Exact Timestamp (a whole number) or an RFC 3339 "
                                         "date-time"),
    "replication_key": (lambda v: isinstance(v, str), "a property name"),
    DELETED_SINCE: (_whole, "a sync/Deleted Timestamp (a whole number)"),
    "receivables_since": (_instant, "an RFC 3339 date-time"),
    "receivables_seen": (_seen, "an object of receivable ids"),
    "seen_since_bookmark": (_seen, "an object of row ids"),
    "seen_at_bookmark": (_seen, "a list of row ids"),
    "first_sync_unfinished": (lambda v: isinstance(v, bool), "true or false"),
}

FOREIGN = ("this state was not written by tap-exact-online (another tap's?). Give this "
           "extractor its own state (Meltano keeps one per extractor) or run without --state")


def state_problem(state: Any) -> str | None:
    """What makes ``state`` unusable as this tap's STATE (None: it can be used)."""
    if not isinstance(state, dict):
        return f"must be a JSON object, got {_show(state)}"
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        return f'"bookmarks" must be an object of streams, got {_show(bookmarks)}'
    for stream, entry in bookmarks.items():
        problem = _stream_problem(f"bookmarks.{stream}", entry)
        if problem:
            return problem
    return None


def _stream_problem(where: str, entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"{where} must be an object, got {_show(entry)}"
    foreign = sorted(set(entry) - STREAM_KEYS)
    if foreign:
        return f"{where} has {', '.join(foreign)} outside per-division partitions: {FOREIGN}"
    partitions = entry.get("partitions", [])
    if not isinstance(partitions, list):
        return f"{where}.partitions must be a list of division partitions, got {_show(partitions)}"
    for index, partition in enumerate(partitions):
        problem = _partition_problem(f"{where}.partitions[{index}]", partition)
        if problem:
            return problem
    return None


def _partition_problem(where: str, partition: Any) -> str | None:
    if not isinstance(partition, dict):
        return f"{where} must be an object, got {_show(partition)}"
    context = partition.get("context")
    if not isinstance(context, dict) or set(context) != {PARTITION_KEY}:
        return f"{where}.context is {_show(context)}, not {{\"division\": <code>}}: {FOREIGN}"
    division = context[PARTITION_KEY]
    if isinstance(division, bool) or not isinstance(division, int) or division <= 0:
        return f"{where}.context.division must be a division code, got {_show(division)}"
    for key, (valid, expected) in VALUE_CHECKS.items():
        if key in partition and not valid(partition[key]):
            return f"{where}.{key} must be {expected}, got {_show(partition[key])}"
    return None
