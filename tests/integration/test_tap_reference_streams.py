"""The real tap with one-line custom streams: typed records that validate against the schema
the reference gives, and an endpoint the reference lacks stopping the tap with one error."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

from exact_online_core.pack import pack_stream
from exact_online_sandbox.server import Sandbox
from tap_exact_online.tap import TapExactOnline

from .helpers import TAP, TapRun, rest, rows_of, selected_catalog

Config = Callable[..., Path]
RunTap = Callable[..., TapRun]
PACK_JOURNALS = pack_stream("financial/Journals")

ONE_LINERS = [
    {"name": "projects", "endpoint": "sync/Project/Projects"},
    {"name": "journals", "endpoint": "financial/Journals"},
    {"name": "gl_mappings", "endpoint": "financial/GLAccountClassificationMappings"},
]


def test_one_line_streams_emit_records_valid_against_their_typed_schema(
    tap_config: Config, run_tap: RunTap
) -> None:
    config = tap_config(custom_streams=ONE_LINERS)
    catalog = selected_catalog(json.loads(config.read_text()), {s["name"] for s in ONE_LINERS})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    schemas = {m["stream"]: m for m in run.messages if m["type"] == "SCHEMA"}
    for name in ("projects", "journals", "gl_mappings"):
        schema = schemas[name]["schema"]
        records = run.records(name)
        assert records, name
        assert schemas[name]["key_properties"] == ["division", "ID"]
        validator = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        for record in records:
            validator.validate(record)
    assert schemas["projects"]["bookmark_properties"] == ["Timestamp"]
    assert schemas["journals"]["bookmark_properties"] == ["Modified"]
    assert not schemas["gl_mappings"].get("bookmark_properties")


def test_an_endpoint_the_reference_lacks_stops_the_tap_naming_it_and_the_closest(
    tap_config: Config,
) -> None:
    config = tap_config(custom_streams=[{"name": "projects",
                                         "endpoint": "sync/Projects/Projects"}])
    done = subprocess.run([TAP, "--config", str(config), "--discover"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert "custom_streams" in errors[0] and "'sync/Projects/Projects'" in errors[0]
    assert "closest: sync/Project/Projects" in errors[0]


def test_an_expanded_collection_continued_at_a_nested_next_arrives_whole(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    sandbox.set_limits(minutely=100000, daily=100000)
    (entry,) = rows_of(rest(sandbox, "GET", "purchaseentry/PurchaseEntries", params={
        "$select": "Supplier,Journal,PurchaseEntryLines", "$expand": "PurchaseEntryLines",
        "$top": "1"}))
    gl_account = entry["PurchaseEntryLines"]["results"][0]["GLAccount"]
    created = rest(sandbox, "POST", "purchaseentry/PurchaseEntries", json={
        "Supplier": entry["Supplier"], "Journal": entry["Journal"],
        "PurchaseEntryLines": [{"GLAccount": gl_account, "AmountFC": float(n),
                                "Description": f"line {n}"} for n in range(1, 66)]})
    entry_id = created.json()["d"]["EntryID"]
    expanded = rest(sandbox, "GET", f"purchaseentry/PurchaseEntries(guid'{entry_id}')",
                    params={"$expand": "PurchaseEntryLines"}).json()["d"]["PurchaseEntryLines"]
    assert len(expanded["results"]) == 60 and expanded["__next"]  # Exact pages it at 60

    stream = {"name": "entries", "endpoint": "purchaseentry/PurchaseEntries",
              "select": ["EntryID", "PurchaseEntryLines"]}
    config = tap_config(custom_streams=[stream], divisions=[100001])
    run = run_tap(config, catalog=selected_catalog(json.loads(config.read_text()), {"entries"}))
    assert run.returncode == 0, run.stderr[-3000:]
    (record,) = [r for r in run.records("entries") if r["EntryID"] == entry_id]
    lines = record["PurchaseEntryLines"]
    assert sorted(line["Description"] for line in lines) == sorted(
        f"line {n}" for n in range(1, 66))
    assert len({line["ID"] for line in lines}) == 65


def test_a_property_deselected_in_the_catalog_leaves_exacts_select_and_the_records(
    sandbox: Sandbox, settings: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.set_limits(minutely=100000, daily=100000)
    config = {**settings, "divisions": [100001]}
    catalog = TapExactOnline(config=config).catalog_dict
    for stream in catalog["streams"]:
        journals = stream["tap_stream_id"] == "exact_journals"
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = journals
            elif journals and entry["breadcrumb"][-1] == "description":
                entry["metadata"]["selected"] = False  # the others left unset: selected
    tap = TapExactOnline(config=config, catalog=catalog)
    asked: list[str] = []
    tap.api.client.session.hooks["response"].append(
        lambda response, *args, **kwargs: asked.append(response.url))
    tap.sync_all()

    selects = [parse_qs(urlsplit(url).query)["$select"][0].split(",") for url in asked
               if urlsplit(url).path.endswith("/financial/Journals")]
    assert selects and "Description" in PACK_JOURNALS.select  # asked for unless deselected
    assert all("Description" not in s and "Code" in s and "ID" in s for s in selects)
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records = [m["record"] for m in out if m["type"] == "RECORD"]
    assert records and all("description" not in r and "code" in r for r in records)
