"""Changes made while the tap runs, or between an interrupted run and its resume, all arrive.

Each test is one way the warehouse once drifted from Exact (issue #12): the real tap
executable against the sandbox as a real HTTP server, with the change made at the moment
that used to lose it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .helpers import (
    TAP,
    TapRun,
    committed,
    exact_keys,
    page_states,
    rest,
    rows_of,
    run_until,
    selected_catalog,
)

RunTap = Callable[..., TapRun]
Config = Callable[..., Path]
DIVISION = 100001


def deleted(records: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in records if r.get("_sdc_deleted_at")}


def test_resumed_first_sync_emits_the_deletions_made_since_it_started(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    sandbox.reset(size={"contacts": 1500})  # two pages of sync/CRM/Contacts
    sandbox.set_limits(minutely=100000, daily=100000)
    config = tap_config(refresh_token=sandbox.mint_refresh_token(), divisions=[DIVISION])
    catalog = selected_catalog(json.loads(config.read_text()), {"generic_contact"})
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))

    first = run_until([TAP, "--config", str(config), "--catalog", str(catalog_path)],
                      lambda messages: bool(page_states(messages, "generic_contact")))
    records, state = committed(first)
    assert 0 < len(records) <= 1000, "killed after the first page"
    victim = records[0]["id"]
    rest(sandbox, "DELETE", f"crm/Contacts(guid'{victim}')")

    resumed = run_tap(config, state=state, catalog=catalog)
    assert resumed.returncode == 0, resumed.stderr
    assert victim in deleted(resumed.records("generic_contact"))


def test_row_edited_while_later_pages_are_read_arrives_on_a_modified_bookmarked_stream(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    """A filtered stream reads the plain endpoint in key order, bookmarked on Modified: a row
    of page 1 edited before page 2 is read (where a row edited even later sits) must come in
    the next run, not fall below the bookmark."""
    sandbox.reset(size={"accounts": 1500})  # two pages of bulk/CRM/Accounts
    sandbox.set_limits(minutely=100000, daily=100000)
    config = tap_config(refresh_token=sandbox.mint_refresh_token(), divisions=[DIVISION],
                        filters={"generic_company": "IsSales eq true"})
    catalog = selected_catalog(json.loads(config.read_text()), {"generic_company"})
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    edited: dict[str, str] = {}

    def race(messages: list[dict[str, Any]]) -> bool:
        last = messages[-1]
        records = [m["record"] for m in messages if m["type"] == "RECORD"]
        if last["type"] == "RECORD" and len(records) == 1:
            # every first page is read before the first record: hold page 2 back a while
            sandbox.inject_fault("*/bulk/CRM/Accounts", kind="delay", seconds=3, count=1)
        if last["type"] == "STATE" and not edited:
            page_one = {r["id"] for r in records}
            every = {key for _, key in exact_keys(sandbox, "sync/CRM/Accounts", "ID",
                                                  divisions=(DIVISION,))}
            later = min(every - page_one)
            edited["early"], edited["late"] = min(page_one), later
            rest(sandbox, "PUT", f"crm/Accounts(guid'{edited['early']}')",
                 json={"Name": "Edited on page 1"})
            sandbox.advance_clock(2)
            rest(sandbox, "PUT", f"crm/Accounts(guid'{later}')", json={"Name": "Edited later"})
        return False

    first = run_until([TAP, "--config", str(config), "--catalog", str(catalog_path)], race)
    records, state = committed(first)
    assert edited and len(records) == 1500
    by_id = {r["id"]: r["name"] for r in records}
    assert by_id[edited["late"]] == "Edited later", "page 2 was read after the edits"
    assert by_id[edited["early"]] != "Edited on page 1", "page 1 was read before them"

    second = run_tap(config, state=state, catalog=catalog)
    assert second.returncode == 0, second.stderr
    names = {r["id"]: r["name"] for r in second.records("generic_company")}
    assert names.get(edited["early"]) == "Edited on page 1"


def batch_records(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a BATCH message's (gzipped JSON lines) files."""
    records = []
    for url in message["manifest"]:
        with gzip.open(url.removeprefix("file://"), "rt") as lines:
            records += [json.loads(line) for line in lines]
    return records


def bookmarks(state: dict[str, Any], stream: str) -> dict[int, Any]:
    partitions = state.get("bookmarks", {}).get(stream, {}).get("partitions", [])
    return {p["context"]["division"]: p.get("replication_key_value") for p in partitions}


def test_batch_mode_state_never_runs_ahead_of_the_announced_batch_files(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    sandbox.reset(size={"contacts": 1500})  # two pages per division
    sandbox.set_limits(minutely=100000, daily=100000)
    config = tap_config(
        refresh_token=sandbox.mint_refresh_token(),
        batch_config={"encoding": {"format": "jsonl", "compression": "gzip"},
                      "storage": {"root": f"file://{tmp_path}"}, "batch_size": 700},
    )
    catalog = selected_catalog(json.loads(config.read_text()), {"generic_contact"})

    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    announced: dict[int, list[int]] = {}
    states = 0
    for message in run.messages:
        if message["type"] == "BATCH":
            for record in batch_records(message):
                announced.setdefault(record["division"], []).append(record["exact_timestamp"])
        elif message["type"] == "STATE":
            states += 1
            for division, mark in bookmarks(message["value"], "generic_contact").items():
                if mark is not None:
                    assert announced.get(division), f"bookmark {mark} before any batch file"
                    assert mark <= max(announced[division])
    assert states >= 2
    assert sum(len(v) for v in announced.values()) == 3000


def new_invoice(sandbox: Sandbox, lines: int) -> dict[str, Any]:
    """An open invoice with ``lines`` lines, created through Exact's API; its lines' ids."""
    account = rest(sandbox, "GET", "crm/Accounts", params={"$select": "ID", "$top": "1"})
    items = rest(sandbox, "GET", "logistics/Items", params={"$select": "ID", "$top": str(lines)})
    body = {"OrderedBy": rows_of(account)[0]["ID"],
            "SalesInvoiceLines": [{"Item": row["ID"], "Quantity": 2} for row in rows_of(items)]}
    invoice = rest(sandbox, "POST", "salesinvoice/SalesInvoices", json=body).json()["d"]
    found = rest(sandbox, "GET", "salesinvoice/SalesInvoiceLines", params={
        "$select": "ID", "$filter": f"InvoiceID eq guid'{invoice['InvoiceID']}'"})
    return {"id": invoice["InvoiceID"], "lines": sorted(r["ID"] for r in rows_of(found))}


def image(*runs: TapRun, stream: str) -> set[tuple[int, str]]:
    """The keys a warehouse holds after these runs: records applied in order, deletes remove."""
    keys: set[tuple[int, str]] = set()
    for run in runs:
        for record in run.records(stream):
            key = (record["division"], record["id"])
            if record.get("_sdc_deleted_at"):
                keys.discard(key)
            else:
                keys.add(key)
    return keys


def test_lines_of_a_deleted_invoice_and_a_removed_line_arrive_as_tombstones(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, sandbox_keys: Callable[..., Any]
) -> None:
    doomed, trimmed = new_invoice(sandbox, 3), new_invoice(sandbox, 3)
    config = tap_config(divisions=[DIVISION])
    catalog = selected_catalog(json.loads(config.read_text()),
                               {"accounting_invoice", "accounting_invoice_line_item"})
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    rest(sandbox, "DELETE", f"salesinvoice/SalesInvoices(guid'{doomed['id']}')")
    removed = trimmed["lines"][1]
    rest(sandbox, "DELETE", f"salesinvoice/SalesInvoiceLines(guid'{removed}')")

    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.returncode == 0, second.stderr
    lines = second.records("accounting_invoice_line_item")
    assert deleted(lines) >= {*doomed["lines"], removed}
    assert not {r["id"] for r in lines if not r.get("_sdc_deleted_at")} & {
        *doomed["lines"], removed}
    assert doomed["id"] in deleted(second.records("accounting_invoice"))
    live = {r["id"]: r for r in second.records("accounting_invoice") if not r.get(
        "_sdc_deleted_at")}
    assert sorted(line["id"] for line in live[trimmed["id"]]["line_items"]) == sorted(
        set(trimmed["lines"]) - {removed})
    assert image(first, second, stream="accounting_invoice_line_item") == sandbox_keys(
        "salesinvoice/SalesInvoiceLines", divisions=(DIVISION,))
    assert image(first, second, stream="accounting_invoice") == sandbox_keys(
        "salesinvoice/SalesInvoices", "InvoiceID", divisions=(DIVISION,))
