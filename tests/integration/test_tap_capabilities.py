"""The capabilities the tap advertises work: batch (no STATE ahead of its batch file) and
activate-version (ACTIVATE_VERSION around a forced full-table sync)."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .helpers import TAP, TapRun

SYNC_STREAMS = ("generic_company", "generic_contact", "accounting_invoice_item")


def batch_config(root: Path) -> dict[str, Any]:
    return {"encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": root.as_uri(), "prefix": "b-"}, "batch_size": 25}


def batch_records(message: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for url in message["manifest"]:
        with gzip.open(urlsplit(url).path, "rt", encoding="utf-8") as file:
            rows += [json.loads(line) for line in file if line.strip()]
    return rows


def test_batch_files_hold_every_row_and_each_state_follows_its_rows(
    tmp_path: Path, tap_config: Callable[..., Path], run_tap: Callable[..., TapRun],
    sandbox_keys: Callable[..., set[tuple[int, str]]],
) -> None:
    run = run_tap(tap_config(batch_config=batch_config(tmp_path)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records() == [], "BATCH mode sends no RECORD messages"
    announced: dict[str, list[dict[str, Any]]] = {s: [] for s in SYNC_STREAMS}
    batches = 0
    for message in run.messages:
        if message["type"] == "BATCH" and message["stream"] in announced:
            announced[message["stream"]] += batch_records(message)
            batches += 1
        elif message["type"] == "STATE":
            for stream in SYNC_STREAMS:
                for partition in message["value"]["bookmarks"].get(stream, {}).get(
                        "partitions", []):
                    bookmark = partition.get("replication_key_value")
                    division = partition["context"]["division"]
                    sent = [r["exact_timestamp"] for r in announced[stream]
                            if r["division"] == division]
                    # Whatever the STATE says is done must be in a batch announced before it.
                    assert bookmark is None or (sent and max(sent) >= bookmark), (
                        stream, division, bookmark)
    assert batches > len(SYNC_STREAMS), "batch_size 25 splits the streams into several files"
    expected = {"generic_company": "crm/Accounts", "generic_contact": "crm/Contacts",
                "accounting_invoice_item": "logistics/Items"}
    for stream, path in expected.items():
        keys = [(r["division"], r["id"]) for r in announced[stream]]
        assert sorted(keys) == sorted(sandbox_keys(path)), stream


def test_forced_full_table_sync_emits_activate_version_when_asked(
    tap_config: Callable[..., Path], run_tap: Callable[..., TapRun]
) -> None:
    config = tap_config(emit_activate_version_messages=True)
    discovered = subprocess.run([TAP, "--config", str(config), "--discover"],
                                capture_output=True, text=True, timeout=120, check=True)
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"].update({"selected": entry["stream"] == "generic_company",
                                         "forced-replication-method": "FULL_TABLE"})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    kinds = [m["type"] for m in run.messages if m.get("stream") == "generic_company"]
    assert kinds[:3] == ["SCHEMA", "ACTIVATE_VERSION", "RECORD"]  # the SDK's order
    versions = {m["version"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"}
    assert len(versions) == 1 and {m.get("version") for m in run.messages
                                   if m["type"] == "RECORD"} == versions
