"""The login's divisions, asked of Exact through the core: one Dagster partition each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exact_online_core.api import ExactOnline
from exact_online_core.config import ExactConfig
from exact_online_dagster.meltano import tap_settings
from exact_online_dagster.settings import Settings


def reachable_divisions(tap_config: Mapping[str, Any]) -> list[int]:
    """Every active division the login reaches (system/Divisions), whatever ``divisions``
    the extractor is configured with: each partition's run restricts it to one."""
    config = ExactConfig.from_mapping({**tap_config, "divisions": "all"})
    with ExactOnline(config) as exact:
        return exact.divisions()


def discover(settings: Settings) -> list[str]:
    """Partition keys (division codes as text) for the extractor's login, in code order."""
    return [str(code) for code in sorted(reachable_divisions(tap_settings(settings)))]


__all__ = ["discover", "reachable_divisions"]
