"""Helpers for running the real tap executable and reading the sandbox over its REST API."""

from __future__ import annotations

import sys
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
