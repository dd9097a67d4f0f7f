"""The invoice-heavy benchmark: calls against Exact's floor for invoices, lines and receivables.

    .venv/bin/python benchmarks/invoices.py                  # 10,000 invoices
    .venv/bin/python benchmarks/invoices.py --invoices 10000,100000

For each size the sandbox runs in its own process with that many invoices in division 100001
(with their lines, receivables and payments), limits lifted, and the real
``tap-exact-online`` with ``accounting_invoice`` and ``accounting_invoice_line_item``
selected makes a full sync (wall and CPU seconds, peak RSS), a no-change sync from its STATE,
and a sync after 100 invoices changed (50 headers, 50 lines) through Exact's API. The
sandbox counts the calls per endpoint. The floor of a full sync is ceil(sync rows/1000) +
ceil(receivables/1000) + the fixed calls (token, divisions, sync/Deleted, ...).

Also run by ``benchmarks/run.py --invoices N,...``; writes ``benchmarks/invoices.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exact_online_sandbox.server import Sandbox  # noqa: E402

BIN = Path(sys.executable).parent
TAP = str(BIN / "tap-exact-online")
DIVISION = 100001
PAGE = 1000
STREAMS = ("accounting_invoice", "accounting_invoice_line_item")
SYNC = "GET sync/SalesInvoice/SalesInvoices"
RECEIVABLES = "GET bulk/Cashflow/Receivables"
DATA = (SYNC, RECEIVABLES, "GET bulk/SalesInvoice/SalesInvoiceLines",
        "GET salesinvoice/SalesInvoices")
"""Endpoints that carry invoice data; every other call is a fixed cost of a run."""
CHANGED = 100


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    records: dict[str, int]
    calls: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def fixed(self) -> int:
        return sum(v for k, v in self.calls.items() if k not in DATA)


@dataclass
class InvoiceResult:
    invoices: int
    lines: int
    sync_rows: int
    receivables: int
    seed_seconds: float
    floor: int
    full: Run
    no_change: Run
    changed: Run

    @property
    def ratio(self) -> float:
        return round(self.full.total / self.floor, 3)


def size_of(invoices: int) -> dict[str, int]:
    """A division with ``invoices`` invoices and enough customers and items for them."""
    return {"accounts": max(50, invoices // 20), "contacts": 50, "items": 200,
            "invoices": invoices}


def config_and_catalog(sandbox: Sandbox, work: Path) -> tuple[Path, Path]:
    from tap_exact_online.tap import TapExactOnline

    config = {"base_url": sandbox.base_url, "client_id": sandbox.client_id,
              "client_secret": sandbox.client_secret,
              "refresh_token": sandbox.mint_refresh_token(),
              "token_store": str(work / "tokens.json"), "divisions": [DIVISION]}
    catalog: dict[str, Any] = TapExactOnline(config=config).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in STREAMS
    (work / "config.json").write_text(json.dumps(config))
    (work / "catalog.json").write_text(json.dumps(catalog))
    return work / "config.json", work / "catalog.json"


def run_tap(sandbox: Sandbox, config: Path, catalog: Path, output: Path,
            state: Path | None) -> Run:
    sandbox.clear_calls()
    command = [TAP, "--config", str(config), "--catalog", str(catalog)]
    if state is not None:
        command += ["--state", str(state)]
    with open(output, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the tap failed: {' '.join(command)}")
    records: dict[str, int] = {}
    last_state = None
    with open(output, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"RECORD"'):
                stream = json.loads(line)["stream"]
                records[stream] = records.get(stream, 0) + 1
            elif line.startswith(b'{"type":"STATE"'):
                last_state = line
    if last_state is not None:
        output.with_suffix(".state.json").write_text(
            json.dumps(json.loads(last_state)["value"]))
    calls = {k: int(v) for k, v in sandbox.calls()["by_endpoint"].items()}
    return Run(round(seconds, 2), round(usage.ru_utime + usage.ru_stime, 2),
               round(usage.ru_maxrss / 1024, 1), records, calls)


class Api:
    """Exact's API as a user's script calls it, with a new access token when one expires
    (at 100,000 invoices the changes take longer than a token's ten minutes)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.token = sandbox.access_token()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 600)
        response = self.sandbox.call(self.token, path, method, **kwargs)
        if response.status_code == 401:
            self.token = self.sandbox.access_token()
            response = self.sandbox.call(self.token, path, method, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def change_invoices(sandbox: Sandbox, count: int = CHANGED) -> None:
    """``count`` open invoices changed through Exact's API: half a header, half a line."""
    api = Api(sandbox)
    url: str | None = (f"{sandbox.api_url}/{DIVISION}/salesinvoice/SalesInvoices?"
                       "$select=InvoiceID&$filter=Status eq 20")
    ids: list[str] = []
    while url and len(ids) < count:
        body = requests.get(url, headers={"Authorization": f"Bearer {api.token}",
                                          "Accept": "application/json"}, timeout=600).json()["d"]
        ids += [row["InvoiceID"] for row in body["results"]]
        url = body.get("__next")
    assert len(ids) >= count, f"only {len(ids)} open invoices to change"
    for n, invoice in enumerate(ids[:count]):
        if n % 2 == 0:
            api.call("PUT", f"salesinvoice/SalesInvoices(guid'{invoice}')",
                     json={"Description": f"changed {n}"})
            continue
        lines = api.call("GET", "salesinvoice/SalesInvoiceLines", params={
            "$select": "ID", "$filter": f"InvoiceID eq guid'{invoice}'"})["d"]
        line = (lines["results"] if isinstance(lines, dict) else lines)[0]["ID"]
        api.call("PUT", f"salesinvoice/SalesInvoiceLines(guid'{line}')", json={"Quantity": 3})


def measure(invoices: int, work: Path) -> InvoiceResult:
    data = work / f"sandbox-invoices-{invoices}"
    started = time.perf_counter()
    # only the measured division is seeded (a sandbox seeds every division it serves)
    sandbox = Sandbox(seed=None, process=True, data_dir=data).start()
    sandbox.control.post("/reset", json={"seed": 42, "size": size_of(invoices),
                                         "divisions": 1}, timeout=3600)
    seed_seconds = round(time.perf_counter() - started, 1)
    try:
        sandbox.set_limits(minutely=10**9, daily=10**9, token_daily=10**6)
        lines = sandbox.row_count("salesinvoice/SalesInvoiceLines", DIVISION)
        receivables = sandbox.row_count("cashflow/Receivables", DIVISION)
        sync_rows = invoices + lines  # a header row and a row per line
        config, catalog = config_and_catalog(sandbox, work)
        print(f"  {invoices:>9,} invoices ({lines:,} lines, {receivables:,} receivables): "
              f"seeded in {seed_seconds} s; full sync ...", flush=True)
        full = run_tap(sandbox, config, catalog, work / "full.singer", None)
        print(f"             full sync: {sum(full.calls.values())} calls {full.calls}, "
              f"{full.seconds} s, tap CPU {full.cpu_seconds} s, peak RSS "
              f"{full.peak_rss_mb} MB", flush=True)
        print("             no-change sync, 100 changed invoices ...", flush=True)
        no_change = run_tap(sandbox, config, catalog, work / "again.singer",
                            work / "full.state.json")
        change_invoices(sandbox)
        changed = run_tap(sandbox, config, catalog, work / "changed.singer",
                          work / "again.state.json")
    finally:
        sandbox.stop()
        shutil.rmtree(data, ignore_errors=True)
    floor = math.ceil(sync_rows / PAGE) + math.ceil(receivables / PAGE) + full.fixed
    return InvoiceResult(invoices, lines, sync_rows, receivables, seed_seconds, floor, full,
                         no_change, changed)


def table(results: list[InvoiceResult]) -> str:
    out = ["Invoices, lines and receivables (division 100001, both invoice streams): calls",
           f"{'invoices':>9} | {'sync rows':>9} | {'receiv.':>7} | {'sync':>5} | "
           f"{'receiv.':>7} | {'lines':>5} | {'plain':>5} | {'fixed':>5} | {'total':>5} | "
           f"{'floor':>5} | {'ratio':>5} | {'no-change':>9} | {'100 changed':>11} | "
           f"{'seconds':>7} | {'CPU s':>6} | {'RSS MB':>6}"]
    for r in results:
        c = r.full.calls
        out.append(
            f"{r.invoices:>9,} | {r.sync_rows:>9,} | {r.receivables:>7,} | {c.get(SYNC, 0):>5} | "
            f"{c.get(RECEIVABLES, 0):>7} | {c.get(DATA[2], 0):>5} | {c.get(DATA[3], 0):>5} | "
            f"{r.full.fixed:>5} | {r.full.total:>5} | {r.floor:>5} | {r.ratio:>5.2f} | "
            f"{r.no_change.total:>9} | {r.changed.total:>11} | {r.full.seconds:>7.1f} | "
            f"{r.full.cpu_seconds:>6.1f} | {r.full.peak_rss_mb:>6.0f}")
    return "\n".join(out)


def as_json(results: list[InvoiceResult]) -> list[dict[str, Any]]:
    return [{**asdict(r), "ratio": r.ratio} for r in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", default="10000",
                        help="comma-separated invoice counts (default: %(default)s; "
                        "100000 takes several minutes)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "invoices.json"))
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.invoices.split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="exact-bench-invoices-"))
    results: list[InvoiceResult] = []
    try:
        for n in sizes:
            results.append(measure(n, work))
            Path(args.output).write_text(json.dumps(as_json(results), indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    print(f"\nwritten: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
