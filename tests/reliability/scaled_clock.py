"""The sandbox's scaled clock, for code that runs in this process (tap, target, broker).

The executables use real time; in process, the core can be handed the sandbox's clock so
that rate-limit waits and token ages follow sandbox time: at scale 60 a minute window lasts
one real second, and nothing waits for real minutes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from exact_online_sandbox.server import Sandbox


@dataclass(frozen=True)
class SandboxClock:
    """Sandbox time computed locally from one reading (no HTTP call per ``now()``)."""

    origin: float
    scale: float
    read_at: float

    @classmethod
    def of(cls, sandbox: Sandbox | str) -> SandboxClock:
        base = sandbox.base_url if isinstance(sandbox, Sandbox) else sandbox
        before = time.monotonic()
        body = requests.get(f"{base}/_sandbox/clock", timeout=30).json()
        after = time.monotonic()
        return cls(float(body["now"]), float(body["scale"]), (before + after) / 2)

    def now(self) -> float:
        return self.origin + (time.monotonic() - self.read_at) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)


@contextlib.contextmanager
def patched_core_clock(clock: SandboxClock, call_times: list[float] | None = None,
                       on_answer: Callable[[float, requests.Response], None] | None = None
                       ) -> Iterator[None]:
    """Every ``ExactOnline`` built by the tap or the target runs on ``clock``.

    ``call_times`` (if given) receives the sandbox time of every API response, and
    ``on_answer`` (if given) is called with that time and the response.
    """
    import exact_online_core.api as api_module
    import tap_exact_online.tap as tap_module
    from exact_online_core.auth import broker_from_config
    from exact_online_core.http import ExactClient

    real = api_module.ExactOnline

    def on_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        now = clock.now()
        if call_times is not None:
            call_times.append(now)
        if on_answer is not None:
            on_answer(now, response)

    def build(config: Any, **kwargs: Any) -> Any:
        kwargs.pop("clock", None)
        client = ExactClient(config, broker_from_config(config, clock=clock.now),
                             sleep=clock.sleep, clock=clock.now)
        client.session.hooks["response"].append(on_response)
        return real(config, client=client, clock=clock.now, **kwargs)

    modules = (api_module, tap_module)
    for module in modules:
        module.__dict__["ExactOnline"] = build
    try:
        yield
    finally:
        for module in modules:
            module.__dict__["ExactOnline"] = real
