"""tap → edit → target → tap: edits made to the tap's own records come back from Exact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from exact_online_core.api import ExactOnline
from exact_online_core.config import ExactConfig
from exact_online_sandbox.server import Sandbox

from .test_target_support import DIVISION, run_target, schema_message, target_config

TAP = Path(sys.executable).parent / "tap-exact-online"
STREAM = "generic_company"


def run_tap(config: dict[str, Any], tmp_path: Path,
            state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The real tap, only STREAM selected; its SCHEMA/RECORD/STATE messages."""
    config_file = tmp_path / "tap-config.json"
    config_file.write_text(json.dumps(config))
    discovered = subprocess.run([str(TAP), "--config", str(config_file), "--discover"],
                                capture_output=True, text=True, timeout=120, check=True)
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == STREAM
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog))
    args = [str(TAP), "--config", str(config_file), "--catalog", str(catalog_file)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_round_trip_tap_edit_target_tap(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    sandbox.set_limits(minutely=100000, daily=1000000)
    settings = {**settings, "divisions": [100001]}
    first = run_tap(settings, tmp_path)
    schema = next(m for m in first if m["type"] == "SCHEMA" and m["stream"] == STREAM)
    records = [m["record"] for m in first if m["type"] == "RECORD" and m["stream"] == STREAM]
    state = [m["value"] for m in first if m["type"] == "STATE"][-1]
    assert len(records) >= 2
    edited = [{**records[0], "name": "Round Trip B.V.", "email": "rt@example.com"},
              {**records[1], "website": "https://round-trip.example"}]

    text = json.dumps(schema) + "\n" + "".join(
        json.dumps({"type": "RECORD", "stream": STREAM, "record": r}) + "\n" for r in edited)
    written = run_target(target_config(settings, tmp_path), tmp_path, text)
    assert written.returncode == 0, written.stderr[-3000:]
    assert written.outcomes() == ["updated", "updated"]
    assert not any(r.get("warnings") for r in written.records), written.records

    again = run_tap(settings, tmp_path, state)
    changed = {m["record"]["id"]: m["record"] for m in again
               if m["type"] == "RECORD" and m["stream"] == STREAM}
    assert changed[records[0]["id"]]["name"] == "Round Trip B.V."
    assert changed[records[0]["id"]]["email"] == "rt@example.com"
    assert changed[records[1]["id"]]["website"] == "https://round-trip.example"
    assert changed[records[1]["id"]]["name"] == records[1]["name"]

    # the tap's own records, replayed unedited through the target, change nothing
    replay = run_target(target_config(settings, tmp_path), tmp_path, text)
    assert replay.outcomes() == ["unchanged", "unchanged"]


def test_round_trip_core_read_edit_target_read(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    """The same round trip with the core's reads (api.list, what the tap emits) as the tap."""
    settings = {**settings, "divisions": [DIVISION]}
    with ExactOnline(ExactConfig.from_mapping(settings)) as api:
        items = list(api.list("accounting_invoice_item", DIVISION, limit=2))
        contacts = list(api.list("generic_contact", DIVISION, limit=1))
        # the sync endpoint does not serve an item's price: read it from the plain endpoint
        price_before = api.retrieve("accounting_invoice_item", DIVISION, items[1]["id"])["price"]
    edited_items = [{**items[0], "price": 123.45, "description": "Edited"}, items[1]]
    edited_contact = {**contacts[0], "email": "edited@example.com"}
    text = "".join(json.dumps(m) + "\n" for m in [
        schema_message("accounting_invoice_item"),
        *({"type": "RECORD", "stream": "accounting_invoice_item", "record": r}
          for r in edited_items),
        schema_message("generic_contact"),
        {"type": "RECORD", "stream": "generic_contact", "record": edited_contact},
    ])
    written = run_target(target_config(settings, tmp_path), tmp_path, text)
    assert written.returncode == 0, written.stderr[-3000:]
    assert written.outcomes() == ["updated", "updated", "updated"]

    with ExactOnline(ExactConfig.from_mapping(settings)) as api:
        item = api.retrieve("accounting_invoice_item", DIVISION, items[0]["id"])
        unchanged = api.retrieve("accounting_invoice_item", DIVISION, items[1]["id"])
        contact = api.retrieve("generic_contact", DIVISION, contacts[0]["id"])
    assert (item["price"], item["description"]) == (123.45, "Edited")
    assert item["name"] == items[0]["name"]
    assert unchanged["price"] == price_before
    assert contact["email"] == "edited@example.com"
    assert contact["company_id"] == contacts[0]["company_id"]
