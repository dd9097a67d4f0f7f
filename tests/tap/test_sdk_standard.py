"""singer-sdk's standard tap tests (get_tap_test_class) against the sandbox.

The SDK builds its test class at import time from a finished config, so this module starts
its own sandbox (a thread on a free port of 127.0.0.1) while it is collected and stops it
when the test process exits.

The standard tests run on the unified streams and on a representative few of the typed
reference streams (:data:`SAMPLE`: a ``sync/`` stream, a ``bulk/`` one, a full-table one and a
custom stream with an expanded collection): the pack's other streams are built by the same
code, and every one of their records is checked against its schema in
tests/integration/test_tap_pack.py (one sync instead of some 600 standard tests).
"""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path
from typing import Any

from singer_sdk import Stream
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from exact_online_sandbox.server import Sandbox
from tap_exact_online.streams import CustomExactStream
from tap_exact_online.tap import TapExactOnline

_SANDBOX = Sandbox(seed=42).start()
atexit.register(_SANDBOX.stop)
_SANDBOX.set_limits(minutely=100000, daily=100000)
_TOKENS = Path(tempfile.mkdtemp(prefix="tap-standard-tests-")) / "tokens.json"

WITH_LINES = {"name": "purchase_entries_with_lines", "endpoint": "purchaseentry/PurchaseEntries",
              "select": ["EntryID", "EntryNumber", "AmountDC", "Modified", "PurchaseEntryLines"]}
"""A custom stream with an expanded collection (the lines as an array of typed objects)."""

SAMPLE = {
    "exact_transaction_lines",  # sync/: Timestamp bookmark, deletions folded in
    "exact_receivables",  # bulk/: a Modified window
    "exact_reporting_balance",  # neither Timestamp nor Modified: the full table
    WITH_LINES["name"],  # an expanded collection
}

CONFIG = {
    "base_url": _SANDBOX.base_url,
    "client_id": _SANDBOX.client_id,
    "client_secret": _SANDBOX.client_secret,
    "refresh_token": _SANDBOX.mint_refresh_token(),
    "token_store": str(_TOKENS),
    "divisions": [100001, 100002],
    "custom_streams": [WITH_LINES],
}


class SampledTap(TapExactOnline):
    """The tap with its unified streams and the :data:`SAMPLE` of its reference streams."""

    def discover_streams(self) -> list[Stream]:
        return [s for s in super().discover_streams()
                if not isinstance(s, CustomExactStream) or s.name in SAMPLE]


def _sample_selected() -> dict[str, Any]:
    """The catalog with every stream selected, the sampled pack streams (not selected by
    default) too."""
    catalog: dict[str, Any] = SampledTap(config=CONFIG).catalog_dict
    assert {s["tap_stream_id"] for s in catalog["streams"]} >= SAMPLE
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
    return catalog


TestTapExactOnline = get_tap_test_class(
    SampledTap,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=50),
    catalog=_sample_selected(),
)
