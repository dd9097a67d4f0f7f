"""Helpers for the renderer tests: a store with every entity seeded, and Exact's compact JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from exact_online_sandbox.backend import Backend
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.store import Store

BASE = "http://127.0.0.1:8765"
DIVISION = 100001


def dumps(payload: Any) -> bytes:
    """A payload as the sandbox writes it: compact, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def every_entity_backend() -> Iterator[Backend]:
    """Every entity seeded (3 rows of each generic one, the special names among accounts),
    in memory; closed after its one ``yield`` (a module fixture's body)."""
    store = Store(None)
    yield Backend(store, Clock(1.0), seed=42, size={"generic": 3, "accounts": 40})
    store.close()
