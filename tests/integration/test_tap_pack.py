"""The financial pack against the sandbox over HTTP, through the real tap: a full sync at the
call floor with records valid against their schemas, then changes and deletions arriving
incrementally per division, then a no-change run at one call per stream per division."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from exact_online_core.pack import PACK, pack_streams, stream_name
from exact_online_reference import reference
from exact_online_sandbox.server import Sandbox

from .helpers import TapRun, rest, rows_of, selected_catalog

Config = Callable[..., Path]
RunTap = Callable[..., TapRun]
DIVISIONS = (100001, 100002)
PAGE, PLAIN_PAGE = 100, 20
"""Sandbox page sizes (sync/bulk, plain) small enough that the bigger streams take pages."""

STREAMS = {stream_name(path): path for path in PACK}


def page_size(path: str) -> int:
    endpoint = reference().endpoint(path)
    assert endpoint is not None
    return PAGE if endpoint.family in ("sync", "bulk") else PLAIN_PAGE


READS = {s.name: s.header.endpoint if s.header else s.endpoint for s in pack_streams()}
"""The endpoint each pack stream calls (purchase entry lines: their entries, lines expanded)."""


def pack_calls(sandbox: Sandbox) -> dict[str, int]:
    """Calls per endpoint the pack reads."""
    by_endpoint = sandbox.calls()["by_endpoint"]
    return {path: int(by_endpoint.get(f"GET {path}", 0)) for path in set(READS.values())}


def per_endpoint(per_stream: dict[str, int]) -> dict[str, int]:
    """Calls per stream summed per endpoint (two streams read purchaseentry/PurchaseEntries)."""
    out: dict[str, int] = {}
    for name, calls in per_stream.items():
        out[READS[name]] = out.get(READS[name], 0) + calls
    return out


def data_records(run: TapRun, stream: str) -> list[dict[str, Any]]:
    return [r for r in run.records(stream) if not r.get("_sdc_deleted_at")]


def assert_conforms(name: str, schema: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """What singer-sdk's standard stream tests check, for every record of one pack stream: a
    valid schema, records valid against it (uuid formats too) with no property it lacks,
    date-times that parse, and a primary key that is unique and never null."""
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    properties = schema["properties"]
    dates = [p for p, s in properties.items() if s.get("format") == "date-time"]
    assert records, name
    for record in records:
        validator.validate(record)
        assert set(record) <= set(properties), (name, set(record) - set(properties))
        for prop in dates:
            if record.get(prop) is not None:
                datetime.fromisoformat(record[prop])
    keys = [(r["division"], r["id"]) for r in records]
    assert None not in {k for key in keys for k in key}, name
    assert len(set(keys)) == len(keys), name


@pytest.fixture
def pack_run(sandbox: Sandbox, tap_config: Config, tmp_path: Path) -> tuple[Path, Path]:
    sandbox.set_limits(minutely=100000, daily=100000, page_size=PAGE,
                       plain_page_size=PLAIN_PAGE)
    config = tap_config()
    catalog = selected_catalog(json.loads(config.read_text()), set(STREAMS))
    catalog_path = tmp_path / "pack-catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    return config, catalog_path


def test_pack_syncs_in_full_at_the_call_floor_then_incrementally_with_deletions(
    sandbox: Sandbox, pack_run: tuple[Path, Path], run_tap: RunTap
) -> None:
    config, catalog = pack_run
    sandbox.clear_calls()
    first = run_tap(config, catalog=json.loads(catalog.read_text()))
    assert first.returncode == 0, first.stderr[-3000:]
    calls = pack_calls(sandbox)

    schemas = {m["stream"]: m for m in first.messages if m["type"] == "SCHEMA"}
    assert set(schemas) == set(STREAMS)
    floor: dict[str, int] = {}
    for name in STREAMS:
        assert schemas[name]["key_properties"] == ["division", "id"], name
        records = data_records(first, name)
        assert_conforms(name, schemas[name]["schema"], records)
    for name, path in STREAMS.items():
        # the rows of the endpoint the stream reads: purchase entry lines come 60 entries a call
        read = "exact_purchase_entries" if READS[name] != path else name
        per_division = Counter(r["division"] for r in data_records(first, read))
        floor[name] = sum(max(1, math.ceil(per_division[d] / page_size(READS[name])))
                          for d in DIVISIONS)
    assert calls == per_endpoint(floor)
    assert floor["exact_purchase_entry_lines"] < sum(  # fewer calls than the lines endpoint's
        math.ceil(n / PLAIN_PAGE) for n in Counter(
            r["division"] for r in data_records(first, "exact_purchase_entry_lines")).values())
    assert sum(len(data_records(first, n)) for n in STREAMS) > 500  # the ledger is there
    assert max(calls.values()) >= 5  # some streams took several pages

    # changes and deletions in the second division only
    division = DIVISIONS[1]
    project = rows_of(rest(sandbox, "GET", "project/Projects", division,
                           params={"$select": "ID", "$top": "1"}))[0]["ID"]
    rest(sandbox, "DELETE", f"project/Projects(guid'{project}')", division)
    line = rows_of(rest(sandbox, "GET", "salesorder/SalesOrderLines", division,
                        params={"$select": "ID", "$top": "1"}))[0]["ID"]
    rest(sandbox, "DELETE", f"salesorder/SalesOrderLines(guid'{line}')", division)
    journal = rows_of(rest(sandbox, "GET", "financial/Journals", division,
                           params={"$select": "ID", "$top": "1"}))[0]["ID"]
    rest(sandbox, "PUT", f"financial/Journals(guid'{journal}')", division,
         json={"Description": "Renamed journal"})
    sandbox.advance_clock(60)

    second = run_tap(config, catalog=json.loads(catalog.read_text()),
                     state=first.final_state)
    assert second.returncode == 0, second.stderr[-3000:]
    tombstones = sorted((m["stream"], m["record"]["division"], m["record"]["id"])
                        for m in second.messages
                        if m["type"] == "RECORD" and m["record"].get("_sdc_deleted_at"))
    assert tombstones == sorted([("exact_projects", division, project),
                                 ("exact_sales_order_lines", division, line)])
    renamed = [r for r in second.records("exact_journals") if r["id"] == journal]
    assert renamed and renamed[-1]["description"] == "Renamed journal"
    assert renamed[-1]["division"] == division

    sandbox.clear_calls()
    third = run_tap(config, catalog=json.loads(catalog.read_text()),
                    state=second.final_state)
    assert third.returncode == 0, third.stderr[-3000:]
    # one call per stream per division; the streams Exact gives neither Timestamp nor
    # Modified (nor a header that has one) are read in full again, at their floor
    full = {name for name, path in STREAMS.items() if schemas[name].get("bookmark_properties")
            in (None, [])}
    assert full == {"exact_gl_account_classification_mappings", "exact_reporting_balance"}
    assert pack_calls(sandbox) == per_endpoint(
        {name: floor[name] if name in full else len(DIVISIONS) for name in STREAMS})
    assert not [r for r in third.records() if r.get("_sdc_deleted_at")]
    for name, path in STREAMS.items():
        if reference().endpoint(path).family == "sync":  # type: ignore[union-attr]
            assert data_records(third, name) == [], name


LINES_STREAM = "exact_purchase_entry_lines"
ENTRY_LINES, ENTRIES = "purchaseentry/PurchaseEntryLines", "purchaseentry/PurchaseEntries"


def entry_lines(sandbox: Sandbox, division: int, entry: str) -> set[str]:
    """The IDs of one purchase entry's lines, as Exact has them now."""
    return {r["ID"] for r in rows_of(rest(sandbox, "GET", ENTRY_LINES, division, params={
        "$select": "ID", "$filter": f"EntryID eq guid'{entry}'"}))}


def test_purchase_entry_lines_follow_their_entries_and_cost_one_call_when_nothing_changed(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap, tmp_path: Path
) -> None:
    """Exact gives purchase entry lines no Timestamp and no Modified; they are read with their
    entries (``$expand``), whose Modified moves when a line is written. A removed line is not
    reported by Exact (no sync/Deleted type for purchase entries): no tombstone."""
    sandbox.set_limits(minutely=100000, daily=100000, page_size=PAGE,
                       plain_page_size=PLAIN_PAGE)
    config = tap_config()
    catalog = selected_catalog(json.loads(config.read_text()), {LINES_STREAM})
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    division = DIVISIONS[1]
    lines = [r for r in data_records(first, LINES_STREAM) if r["division"] == division]
    by_entry: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_entry.setdefault(line["entry_id"], []).append(line)
    edited_entry = next(e for e, ls in by_entry.items() if len(ls) >= 2)
    edited, removed = by_entry[edited_entry][:2]
    grown_entry = next(e for e in by_entry if e != edited_entry)
    rest(sandbox, "PUT", f"{ENTRY_LINES}(guid'{edited['id']}')", division,
         json={"Description": "Edited line"})
    rest(sandbox, "DELETE", f"{ENTRY_LINES}(guid'{removed['id']}')", division)
    added = rest(sandbox, "POST", ENTRY_LINES, division, json={
        "EntryID": grown_entry, "GLAccount": by_entry[grown_entry][0]["gl_account"],
        "AmountFC": 12.5, "Description": "Added line"}).json()["d"]["ID"]
    sandbox.advance_clock(60)

    second = run_tap(config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr[-3000:]
    got = {r["id"]: r for r in second.records(LINES_STREAM)}
    assert got[edited["id"]]["description"] == "Edited line"
    assert got[added]["description"] == "Added line"
    # every current line of the two written entries, and nothing else
    assert set(got) == (entry_lines(sandbox, division, edited_entry)
                        | entry_lines(sandbox, division, grown_entry))
    assert removed["id"] not in got
    assert not [r for r in second.records() if r.get("_sdc_deleted_at")]

    sandbox.clear_calls()
    third = run_tap(config, catalog=catalog, state=second.final_state)
    assert third.returncode == 0, third.stderr[-3000:]
    assert third.records(LINES_STREAM) == []
    by_endpoint = sandbox.calls()["by_endpoint"]
    assert int(by_endpoint.get(f"GET {ENTRIES}", 0)) == len(DIVISIONS)
    assert int(by_endpoint.get(f"GET {ENTRY_LINES}", 0)) == 0
