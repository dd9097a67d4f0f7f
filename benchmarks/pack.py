"""Benchmark the financial pack's API calls: a full sync against the floor, then a no-change sync.

    .venv/bin/python benchmarks/pack.py            # writes benchmarks/pack_results.json

The sandbox runs in its own process, seeded with a bigger financial side (see ``SIZE``) in two
divisions, at Exact's own page sizes (1000 rows on ``sync/`` and ``bulk/``, 60 on plain
endpoints). The real tap syncs every pack stream in both divisions; the sandbox counts the calls
per endpoint. The floor of a stream is the sum over the divisions of ceil(rows / page size),
with the rows of the endpoint it calls counted in the tap's output (purchase entry lines are
read with their entries: the entries' rows). A stream that calls the same endpoint as another
(``exact_purchase_entries`` and ``exact_purchase_entry_lines``) is also synced alone, full then
no change, and its calls are those runs'.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exact_online_core.pack import PACK, pack_streams, stream_name  # noqa: E402
from exact_online_reference import reference  # noqa: E402
from exact_online_sandbox.server import Sandbox  # noqa: E402

TAP = str(Path(sys.executable).with_name("tap-exact-online"))
DIVISIONS = [100001, 100002]
SIZE = {"sales_orders": 400, "quotations": 300, "purchase_entries": 400,
        "purchase_invoices": 100, "purchase_orders": 200}
"""Financial rows per division (the default seed has 15 sales orders, 10 purchase entries)."""


READS = {s.name: s.header.endpoint if s.header else s.endpoint for s in pack_streams()}
"""The endpoint each pack stream calls."""
SHARED = {name for name, path in READS.items() if list(READS.values()).count(path) > 1}
"""Streams that call an endpoint another pack stream calls too."""


def catalog(config: dict[str, Any], wanted: set[str] | None = None) -> dict[str, Any]:
    from tap_exact_online.tap import TapExactOnline

    found: dict[str, Any] = TapExactOnline(config=config).catalog_dict
    wanted = wanted or {stream_name(path) for path in PACK}
    for stream in found["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in wanted
    return found


def run(work: Path, sandbox: Sandbox, config: Path, cat: Path,
        state: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, int], float]:
    sandbox.clear_calls()
    command = [TAP, "--config", str(config), "--catalog", str(cat)]
    if state is not None:
        (work / "state.json").write_text(json.dumps(state))
        command += ["--state", str(work / "state.json")]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the tap failed:\n{done.stderr[-3000:]}")
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    calls = {k: int(v) for k, v in sandbox.calls()["by_endpoint"].items()}
    return messages, calls, seconds


def measure(work: Path) -> dict[str, Any]:
    with Sandbox(seed=42, size=SIZE, process=True, data_dir=work / "sandbox",
                 startup_timeout=1800) as sandbox:
        sandbox.set_limits(minutely=10**9, daily=10**9, token_daily=10**6)
        settings = {"base_url": sandbox.base_url, "client_id": sandbox.client_id,
                    "client_secret": sandbox.client_secret,
                    "refresh_token": sandbox.mint_refresh_token(),
                    "token_store": str(work / "tokens.json"), "divisions": DIVISIONS}
        config = work / "config.json"
        config.write_text(json.dumps(settings))
        cat = work / "catalog.json"
        cat.write_text(json.dumps(catalog(settings)))
        full, full_calls, full_seconds = run(work, sandbox, config, cat, None)
        state = [m["value"] for m in full if m["type"] == "STATE"][-1]
        quiet, quiet_calls, quiet_seconds = run(work, sandbox, config, cat, state)
        alone: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
        for name in sorted(SHARED):
            one = work / f"catalog-{name}.json"
            one.write_text(json.dumps(catalog(settings, {name})))
            own, own_calls, _ = run(work, sandbox, config, one, None)
            own_state = [m["value"] for m in own if m["type"] == "STATE"][-1]
            alone[name] = (own_calls, run(work, sandbox, config, one, own_state)[1])
    by_endpoint = {READS[stream_name(path)]: stream_name(path) for path in PACK
                   if READS[stream_name(path)] == path}
    streams = []
    for path in PACK:
        name = stream_name(path)
        reads = READS[name]
        endpoint = reference().endpoint(reads)
        assert endpoint is not None
        rows = Counter(m["record"]["division"] for m in full
                       if m["type"] == "RECORD" and m["stream"] == name
                       and not m["record"].get("_sdc_deleted_at"))
        read = rows if reads == path else Counter(
            m["record"]["division"] for m in full if m["type"] == "RECORD"
            and m["stream"] == by_endpoint[reads] and not m["record"].get("_sdc_deleted_at"))
        floor = sum(max(1, math.ceil(read[d] / endpoint.page_size)) for d in DIVISIONS)
        calls, quiet_own = alone.get(name, (full_calls, quiet_calls))
        streams.append({"stream": name, "endpoint": path, "reads": reads,
                        "rows": sum(rows.values()), "rows_read": sum(read.values()),
                        "page_size": endpoint.page_size, "floor_calls": floor,
                        "full_calls": calls.get(f"GET {reads}", 0),
                        "no_change_calls": quiet_own.get(f"GET {reads}", 0)})
    records = sum(1 for m in full if m["type"] == "RECORD")
    return {"date": time.strftime("%Y-%m-%d"), "divisions": len(DIVISIONS), "seed_size": SIZE,
            "streams": streams, "full_records": records,
            "full_total_calls": sum(full_calls.values()),
            "no_change_total_calls": sum(quiet_calls.values()),
            "no_change_records": sum(1 for m in quiet if m["type"] == "RECORD"),
            "full_seconds": round(full_seconds, 1), "no_change_seconds": round(quiet_seconds, 1)}


def table(result: dict[str, Any]) -> str:
    lines = ["| stream | rows | page size | full sync calls | floor | no-change calls |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in result["streams"]:
        rows = f"{s['rows']:,}"
        if s.get("reads", s["endpoint"]) != s["endpoint"]:
            rows += f" (in {s['rows_read']:,} rows of `{s['reads']}`)"
        lines.append(f"| `{s['stream']}` | {rows} | {s['page_size']} | "
                     f"{s['full_calls']} | {s['floor_calls']} | {s['no_change_calls']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "pack_results.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(Path(tmp))
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nwhole run: {result['full_records']:,} records, {result['full_total_calls']} calls "
          f"in {result['full_seconds']} s; no change: {result['no_change_total_calls']} calls, "
          f"{result['no_change_records']} records in {result['no_change_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
