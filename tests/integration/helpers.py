"""Helpers for running the real tap executable and reading the sandbox over its REST API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from exact_online_sandbox.server import Sandbox

TAP = str(Path(sys.executable).with_name("tap-exact-online"))


@dataclass
class TapRun:
    """What one run of the tap printed, parsed."""

    returncode: int
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    def keys(self, stream: str) -> set[tuple[int, str]]:
        return {(r["division"], r["id"]) for r in self.records(stream)}

    @property
    def final_state(self) -> dict[str, Any]:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


def exact_keys(
    sandbox: Sandbox, path: str, key: str, divisions: tuple[int, ...] = (100001, 100002)
) -> set[tuple[int, str]]:
    """Every (division, key) the sandbox holds on ``path``, read over its REST API."""
    token = sandbox.access_token()
    found: set[tuple[int, str]] = set()
    for division in divisions:
        url: str | None = f"{sandbox.api_url}/{division}/{path}?$select={key}"
        while url:
            response = requests.get(
                url,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=30,
            )
            response.raise_for_status()
            body = response.json()["d"]
            found.update((division, str(row[key])) for row in body["results"])
            url = body.get("__next")
    return found


def selected_catalog(config: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """The tap's discovered catalog (built in this process) with only ``streams`` selected."""
    from tap_exact_online.tap import TapExactOnline

    catalog: dict[str, Any] = TapExactOnline(config=config).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in streams
    return catalog


def run_until(
    command: list[str], stop: Callable[[list[dict[str, Any]]], bool], *, timeout: float = 120
) -> list[dict[str, Any]]:
    """Run a tap command, SIGKILL it once ``stop(messages so far)`` is true; the messages read.

    Only whole lines count: a line the kill cut off is not a message a target would have seen.
    """
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout is not None
    messages: list[dict[str, Any]] = []
    try:
        for line in proc.stdout:
            if not line.endswith("\n"):
                break
            messages.append(json.loads(line))
            if stop(messages):
                break
    finally:
        proc.kill()
        proc.wait(timeout=timeout)
    return messages


def committed(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records a target has committed (those before the last STATE) and that STATE."""
    last = max((i for i, m in enumerate(messages) if m["type"] == "STATE"), default=-1)
    state = messages[last]["value"] if last >= 0 else {}
    return [m["record"] for m in messages[: last + 1] if m["type"] == "RECORD"], state


def page_states(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    """STATE messages that came right after a RECORD of ``stream`` (one per page read)."""
    found = []
    previous: dict[str, Any] | None = None
    for message in messages:
        if message["type"] == "STATE" and previous is not None and previous.get(
                "stream") == stream and previous["type"] == "RECORD":
            found.append(message["value"])
        previous = message
    return found


def rest(sandbox: Sandbox, method: str, path: str, division: int = 100001,
         **kwargs: Any) -> requests.Response:
    """One Exact REST call to the sandbox (raises on an error status)."""
    response = sandbox.call(sandbox.access_token(), path, method, division=division, **kwargs)
    response.raise_for_status()
    return response


def rows_of(response: requests.Response) -> list[dict[str, Any]]:
    """The rows of a collection answer: ``{"d": {"results": [...]}}`` or, with ``$top``, the
    bare ``{"d": [...]}`` Exact also sends."""
    body = response.json()["d"]
    rows: list[dict[str, Any]] = body["results"] if isinstance(body, dict) else body
    return rows
