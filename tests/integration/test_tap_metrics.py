"""The tap's log: one SDK METRIC line per HTTP call to Exact, one progress line per page."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .helpers import TapRun

METRIC = re.compile(r"METRIC: (\{.*\})$")
PROGRESS = re.compile(r"\| (\S+) division (\d+): (\d+) rows so far;")


def request_metrics(stderr: str) -> list[dict[str, Any]]:
    points = [json.loads(m.group(1)) for line in stderr.splitlines()
              if (m := METRIC.search(line))]
    return [p for p in points if p["metric"] == "http_request_duration"]


def sandbox_api_calls(sandbox: Sandbox) -> Counter[tuple[str, str]]:
    """The sandbox's own count of REST calls, as (method, endpoint), OAuth calls left out."""
    calls: Counter[tuple[str, str]] = Counter()
    for key, count in sandbox.calls()["by_endpoint"].items():
        method, endpoint = key.split(" ", 1)
        if not endpoint.startswith("oauth2/"):  # the token broker's calls, not the client's
            calls[(method, endpoint)] += count
    return calls


def test_every_call_to_exact_has_one_request_duration_metric(
    sandbox: Sandbox, tap_config: Callable[..., Path], run_tap: Callable[..., TapRun]
) -> None:
    sandbox.clear_calls()
    run = run_tap(tap_config())
    assert run.returncode == 0, run.stderr[-3000:]
    points = request_metrics(run.stderr)
    assert Counter((p["tags"]["method"], p["tags"]["endpoint"]) for p in points) == (
        sandbox_api_calls(sandbox))
    assert {p["tags"]["division"] for p in points} == {100001, 100002}
    assert all(p["type"] == "timer" and p["value"] > 0 for p in points)
    assert {(p["tags"]["http_status_code"], p["tags"]["status"]) for p in points} == {
        (200, "succeeded")}


def test_a_failed_call_is_a_metric_with_its_status_and_the_retry_another(
    sandbox: Sandbox, tap_config: Callable[..., Path], run_tap: Callable[..., TapRun]
) -> None:
    sandbox.inject_fault("/api/v1/100002/sync/CRM/Accounts*", "status", status=500, count=1)
    run = run_tap(tap_config())
    assert run.returncode == 0, run.stderr[-3000:]
    accounts = [p["tags"] for p in request_metrics(run.stderr)
                if p["tags"]["endpoint"] == "sync/CRM/Accounts" and p["tags"]["division"] == 100002]
    assert [(t["http_status_code"], t["status"]) for t in accounts] == [
        (500, "failed"), (200, "succeeded")]


def test_one_progress_line_per_page_of_each_stream_and_division(
    tap_config: Callable[..., Path], run_tap: Callable[..., TapRun]
) -> None:
    run = run_tap(tap_config())
    assert run.returncode == 0, run.stderr[-3000:]
    lines = Counter(m.groups() for line in run.stderr.splitlines()
                    if (m := PROGRESS.search(line)))
    # The seeded sandbox is small: every stream fits on one page in each division.
    streams = {m["stream"] for m in run.messages if m["type"] == "SCHEMA"}
    assert {(stream, division) for stream, division, _ in lines} == {
        (stream, str(division)) for stream in streams for division in (100001, 100002)}
    assert set(lines.values()) == {1}, lines
