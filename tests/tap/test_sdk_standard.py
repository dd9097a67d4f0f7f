"""singer-sdk's standard tap tests (get_tap_test_class) against the sandbox.

The SDK builds its test class at import time from a finished config, so this module starts
its own sandbox (a thread on a free port of 127.0.0.1) while it is collected and stops it
when the test process exits.
"""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path
from typing import Any

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from exact_online_sandbox.server import Sandbox
from tap_exact_online.tap import TapExactOnline

_SANDBOX = Sandbox(seed=42).start()
atexit.register(_SANDBOX.stop)
_SANDBOX.set_limits(minutely=100000, daily=100000)
_TOKENS = Path(tempfile.mkdtemp(prefix="tap-standard-tests-")) / "tokens.json"

CONFIG = {
    "base_url": _SANDBOX.base_url,
    "client_id": _SANDBOX.client_id,
    "client_secret": _SANDBOX.client_secret,
    "refresh_token": _SANDBOX.mint_refresh_token(),
    "token_store": str(_TOKENS),
    "divisions": [100001, 100002],
}


def _every_stream_selected() -> dict[str, Any]:
    """The catalog with every stream selected, the pack's (not selected by default) too."""
    catalog: dict[str, Any] = TapExactOnline(config=CONFIG).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
    return catalog


TestTapExactOnline = get_tap_test_class(
    TapExactOnline,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=50),
    catalog=_every_stream_selected(),
)
