"""One process of the token test: call the sandbox's API in a loop through a TokenBroker.

``python token_worker.py BASE_URL STORE SEED_TOKEN ORIGIN_EPOCH ORIGIN_MONOTONIC SCALE SECONDS``

The clock is the sandbox's own formula (its origin, scale and the system-wide monotonic
clock), so token ages agree exactly with the sandbox. Prints one JSON line: calls, refreshes,
and failures (which must be none).
"""

from __future__ import annotations

import json
import sys
import time

import requests

from exact_online_core.auth import FileTokenStore, TokenBroker
from exact_online_core.secrets import Secret


def main() -> int:
    base_url, store, seed = sys.argv[1], sys.argv[2], sys.argv[3]
    origin_epoch, origin_monotonic, scale = (float(v) for v in sys.argv[4:7])
    seconds = float(sys.argv[7])

    def clock() -> float:
        return origin_epoch + (time.monotonic() - origin_monotonic) * scale

    broker = TokenBroker(store=FileTokenStore(store), token_url=f"{base_url}/api/oauth2/token",
                         client_id="sandbox-client", client_secret=Secret("sandbox-secret"),
                         initial_refresh_token=Secret(seed), clock=clock)
    session = requests.Session()
    calls = failures = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        token = broker.access_token()
        for _ in range(2):
            response = session.get(f"{base_url}/api/v1/current/Me", timeout=30, headers={
                "Authorization": f"Bearer {token}", "Accept": "application/json"})
            calls += 1
            if response.status_code != 401:
                break
            token = broker.after_unauthorized(token)
        if response.status_code != 200:
            failures += 1
        time.sleep(0.005)
    print(json.dumps({"calls": calls, "refreshes": broker.refreshes, "failures": failures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
