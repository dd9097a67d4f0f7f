"""Benchmarks of the connector against the seeded sandbox on loopback: one command.

    .venv/bin/python benchmarks/run.py                      # 10k, 100k and 1M rows
    .venv/bin/python benchmarks/run.py --sizes 10000        # a quick run
    .venv/bin/python benchmarks/run.py --invoices 10000,100000   # invoices: 100k takes minutes

For each size the sandbox runs in its own process with that many rows in division 100001
(half accounts, 30 % contacts, 20 % items, plus the small default invoices), and:

- the real ``tap-exact-online`` makes a full sync to /dev/null (wall time, CPU time and peak
  RSS of the tap process), then a full sync to a file (the records are counted and the final
  STATE kept) and a no-change incremental sync from that STATE; the sandbox counts the API
  calls per endpoint, shown next to the floor ceil(rows/1000);
- the floor: ``json.dumps`` of the same RECORD messages written to /dev/null, timed in this
  process;
- the sandbox's own speed: rows/s paging ``sync/CRM/Accounts`` with plain requests.

Once per run, the target writes records to one division under Exact's 60 calls/minute on the
sandbox's scaled clock (in process, so its waits follow the sandbox clock): writes per
minute as a fraction of the budget, and the 429 answers the sandbox counted.

Then the invoice-heavy sizes (``--invoices``, default 10,000; see ``benchmarks/invoices.py``):
calls of a full, a no-change and a 100-changed-invoices sync against Exact's floor.

``--division-workers 1,4,8,20``: 20 divisions under Exact's limits, benchmarks/division_workers.py.
Prints a table and writes ``benchmarks/results.json`` (and ``benchmarks/invoices.json``).

Before anything runs, the tap's own modules are byte-compiled as pip does when it installs
the tap (``--no-bytecode``: their bytecode is removed instead; see :func:`compile_connector`);
the results file notes which.
"""

from __future__ import annotations

import argparse
import compileall
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import invoices  # noqa: E402
from exact_online_sandbox.server import Sandbox  # noqa: E402
from tests.reliability.scaled_clock import SandboxClock, patched_core_clock  # noqa: E402

BIN = Path(sys.executable).parent
TAP = str(BIN / "tap-exact-online")
DIVISION = 100001
PAGE = 1000

STREAM_ENDPOINTS: dict[str, tuple[str, str]] = {
    # stream: (sync endpoint as the sandbox counts it, entity for the row count)
    "generic_company": ("GET sync/CRM/Accounts", "crm/Accounts"),
    "generic_contact": ("GET sync/CRM/Contacts", "crm/Contacts"),
    "accounting_invoice_item": ("GET sync/Logistics/Items", "logistics/Items"),
    "accounting_invoice (+ line items)": (
        "GET sync/SalesInvoice/SalesInvoices", "salesinvoice/SalesInvoiceLines"),
}


def split(rows: int) -> dict[str, int]:
    """``rows`` in a division: 50 % accounts, 30 % contacts, 20 % items."""
    accounts = rows // 2
    contacts = rows * 3 // 10
    return {"accounts": accounts, "contacts": contacts, "items": rows - accounts - contacts}


@dataclass
class TapRun:
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    records: int
    calls: dict[str, int]
    returncode: int


@dataclass
class SizeResult:
    rows: int
    seed_seconds: float
    stream_rows: dict[str, int]
    full_calls: dict[str, int]
    no_change_calls: dict[str, int]
    floor_calls: dict[str, int]
    other_full_calls: dict[str, int]
    other_no_change_calls: dict[str, int]
    full_total_calls: int
    no_change_total_calls: int
    tap_records: int
    tap_seconds: float
    tap_cpu_seconds: float
    tap_records_per_s: float
    tap_cpu_records_per_s: float
    floor_records_per_s: float
    ratio_to_floor: float
    tap_peak_rss_mb: float
    tap_to_file_records_per_s: float
    no_change_records: int
    sandbox_rows_per_s: float
    sandbox_peak_rss_mb: float
    load_average: float = 0.0
    """The machine's 1-minute load average as the tap's CPU run (to /dev/null) ended."""
    tap_cpu_seconds_runs: list[float] = field(default_factory=list)
    floor_cpu_seconds_runs: list[float] = field(default_factory=list)
    """Every CPU measurement of the tap and of the floor (``--repeat``); the least counts."""


@dataclass
class TargetResult:
    records: int
    scale: float
    outcomes: dict[str, int]
    calls: int
    sandbox_minutes: float
    writes_per_minute: float
    full_windows: list[int]
    budget_fraction: float
    responses_429: int
    wall_seconds: float


@dataclass
class Report:
    machine: dict[str, Any]
    sizes: list[SizeResult] = field(default_factory=list)
    target: TargetResult | None = None


# -- the machine -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    from importlib.metadata import version

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory, 1),
            "python": platform.python_version(), "system": platform.platform(),
            "singer_sdk": version("singer-sdk"),
            "date": time.strftime("%Y-%m-%d")}


# -- the tap ---------------------------------------------------------------------------------

CONNECTOR_PACKAGES = ("tap_exact_online", "exact_online_core", "exact_online_reference")


def compile_connector() -> None:
    """Bytecode for the tap's own modules, as pip writes it when it installs the tap.

    Where the environment keeps Python from writing bytecode (``PYTHONDONTWRITEBYTECODE``)
    and the project is installed editable, every tap process would compile these modules
    from source again, a CPU cost that no installed tap pays; Python still reads bytecode
    written beforehand (``__pycache__``, ignored by git)."""
    for package in CONNECTOR_PACKAGES:
        compileall.compile_dir(str(ROOT / package), quiet=1)


def drop_bytecode() -> None:
    """``--no-bytecode``: the tap's modules without bytecode, so that, where the environment
    sets ``PYTHONDONTWRITEBYTECODE``, each tap process compiles them from source."""
    for package in CONNECTOR_PACKAGES:
        for cache in (ROOT / package).rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)


def tap_config(sandbox: Sandbox, work: Path) -> Path:
    path = work / "tap-config.json"
    path.write_text(json.dumps({
        "base_url": sandbox.base_url, "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret, "refresh_token": sandbox.mint_refresh_token(),
        "token_store": str(work / "tokens.json"), "divisions": [DIVISION],
    }))
    return path


def run_tap(config: Path, stdout: Path | None, state: Path | None,
            sandbox: Sandbox) -> TapRun:
    """One tap process; its wall time, CPU time and peak RSS (``wait4``), and the calls."""
    sandbox.clear_calls()
    command = [TAP, "--config", str(config)]
    if state is not None:
        command += ["--state", str(state)]
    out_path = stdout if stdout is not None else Path(os.devnull)
    with open(out_path, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    records = count_records(stdout) if stdout is not None else 0
    calls = {k: int(v) for k, v in sandbox.calls()["by_endpoint"].items()}
    return TapRun(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, records,
                  calls, proc.returncode)


def count_records(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
                count += 1
    return count


def last_state(path: Path, into: Path) -> Path:
    state: bytes | None = None
    with open(path, "rb") as handle:
        for line in handle:
            if b'"type":"STATE"' in line[:30] or b'"type": "STATE"' in line[:30]:
                state = line
    assert state is not None, "the tap emitted no STATE"
    into.write_text(json.dumps(json.loads(state)["value"]))
    return into


def record_lines(path: Path, chunk: int = 10000) -> Iterator[list[dict[str, Any]]]:
    """The RECORD messages of a tap output file, parsed, ``chunk`` at a time."""
    batch: list[dict[str, Any]] = []
    with open(path, "rb") as handle:
        for line in handle:
            if b'"RECORD"' in line[:30]:
                batch.append(json.loads(line))
                if len(batch) >= chunk:
                    yield batch
                    batch = []
    if batch:
        yield batch


def json_floor(path: Path) -> tuple[int, float]:
    """``json.dumps`` of the same RECORD messages to /dev/null: records and CPU seconds.

    CPU time (``process_time``), like the tap's figure: on a busy machine wall time would
    count other processes' turns."""
    total, seconds = 0, 0.0
    with open(os.devnull, "w") as sink:
        for batch in record_lines(path):
            started = time.process_time()
            for message in batch:
                sink.write(json.dumps(message) + "\n")
            seconds += time.process_time() - started
            total += len(batch)
    return total, seconds


# -- the sandbox -----------------------------------------------------------------------------


def sandbox_speed(sandbox: Sandbox) -> tuple[int, float]:
    """Rows/s of sync/CRM/Accounts paged with plain requests (no tap)."""
    token = sandbox.access_token()
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
    url: str | None = f"{sandbox.api_url}/{DIVISION}/sync/CRM/Accounts?$filter=Timestamp gt 0L"
    rows = 0
    started = time.perf_counter()
    while url:
        response = session.get(url, timeout=120)
        response.raise_for_status()
        body = response.json()["d"]
        rows += len(body["results"])
        url = body.get("__next")
    seconds = time.perf_counter() - started
    session.close()
    return rows, seconds


def peak_rss_of(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def calls_per_stream(calls: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    streams = {name: calls.get(endpoint, 0) for name, (endpoint, _) in STREAM_ENDPOINTS.items()}
    counted = {endpoint for endpoint, _ in STREAM_ENDPOINTS.values()}
    other = {k: v for k, v in sorted(calls.items()) if k not in counted}
    return streams, other


def measure_size(rows: int, work: Path, repeat: int = 1) -> SizeResult:
    """One size; with ``repeat`` > 1 the tap's CPU run and the floor are each measured that
    many times, taking turns (so both meet the same load), and the least CPU of each counts
    (all of them are kept in the result)."""
    data = work / f"sandbox-{rows}"
    started = time.perf_counter()
    sandbox = Sandbox(seed=42, size=split(rows), process=True, data_dir=data,
                      startup_timeout=1800).start()
    seed_seconds = time.perf_counter() - started
    try:
        sandbox.set_limits(minutely=10**9, daily=10**9, token_daily=10**6)
        config = tap_config(sandbox, work)
        stream_rows = {name: sandbox.row_count(entity, DIVISION)
                       for name, (_, entity) in STREAM_ENDPOINTS.items()}
        print(f"  {rows:>9,} rows: seeded in {seed_seconds:.1f} s; full sync to /dev/null ...",
              flush=True)
        null_run = run_tap(config, None, None, sandbox)
        load = os.getloadavg()[0]
        assert null_run.returncode == 0, "the tap failed (to /dev/null)"
        print("             full sync to a file ...", flush=True)
        output = work / f"tap-{rows}.singer"
        file_run = run_tap(config, output, None, sandbox)
        assert file_run.returncode == 0, "the tap failed (to a file)"
        state = last_state(output, work / f"state-{rows}.json")
        print("             no-change sync, json.dumps floor, sandbox speed ...", flush=True)
        quiet_output = work / f"tap-{rows}-again.singer"
        quiet = run_tap(config, quiet_output, state, sandbox)
        assert quiet.returncode == 0, "the tap failed (no-change run)"
        floor_records, floor_seconds = json_floor(output)
        assert floor_records == file_run.records
        tap_cpu_runs, floor_runs = [null_run.cpu_seconds], [floor_seconds]
        for _ in range(repeat - 1):
            again = run_tap(config, None, None, sandbox)
            assert again.returncode == 0, "the tap failed (to /dev/null, again)"
            tap_cpu_runs.append(again.cpu_seconds)
            floor_runs.append(json_floor(output)[1])
        null_run.cpu_seconds = min(tap_cpu_runs)
        floor_seconds = min(floor_runs)
        served, serve_seconds = sandbox_speed(sandbox)
        assert sandbox._proc is not None
        sandbox_rss = peak_rss_of(sandbox._proc.pid)
    finally:
        sandbox.stop()
        shutil.rmtree(data, ignore_errors=True)
    output.unlink(missing_ok=True)
    quiet_output_records = count_records(quiet_output)
    quiet_output.unlink(missing_ok=True)
    full, other_full = calls_per_stream(null_run.calls)
    no_change, other_quiet = calls_per_stream(quiet.calls)
    cpu_rate = file_run.records / null_run.cpu_seconds if null_run.cpu_seconds else 0.0
    floor_rate = floor_records / floor_seconds if floor_seconds else 0.0
    return SizeResult(
        rows=rows, seed_seconds=round(seed_seconds, 1), stream_rows=stream_rows,
        full_calls=full, no_change_calls=no_change,
        floor_calls={k: math.ceil(v / PAGE) for k, v in stream_rows.items()},
        other_full_calls=other_full, other_no_change_calls=other_quiet,
        full_total_calls=sum(null_run.calls.values()),
        no_change_total_calls=sum(quiet.calls.values()),
        tap_records=file_run.records, tap_seconds=round(null_run.seconds, 2),
        tap_cpu_seconds=round(null_run.cpu_seconds, 2),
        tap_records_per_s=round(file_run.records / null_run.seconds),
        tap_cpu_records_per_s=round(cpu_rate), floor_records_per_s=round(floor_rate),
        ratio_to_floor=round(cpu_rate / floor_rate, 3) if floor_rate else 0.0,
        tap_peak_rss_mb=round(null_run.peak_rss_mb, 1),
        tap_to_file_records_per_s=round(file_run.records / file_run.seconds),
        no_change_records=quiet_output_records,
        sandbox_rows_per_s=round(served / serve_seconds),
        sandbox_peak_rss_mb=round(sandbox_rss, 1), load_average=round(load, 1),
        tap_cpu_seconds_runs=[round(x, 2) for x in tap_cpu_runs],
        floor_cpu_seconds_runs=[round(x, 3) for x in floor_runs],
    )


# -- the target ------------------------------------------------------------------------------


def measure_target(records: int, scale: float, work: Path) -> TargetResult:
    """The real target class in process, its core on the sandbox's scaled clock."""
    from target_exact_online.target import TargetExactOnline

    with Sandbox(seed=42, process=True, data_dir=work / "sandbox-target", scale=scale) as sb:
        clock = SandboxClock.of(sb)
        # Start on a minute boundary of sandbox time, so whole windows can be counted.
        sb.advance_clock(60 - sb.now() % 60 + 0.5)
        clock = SandboxClock.of(sb)
        sb.clear_calls()
        config = {
            "base_url": sb.base_url, "client_id": sb.client_id,
            "client_secret": sb.client_secret, "refresh_token": sb.mint_refresh_token(),
            "token_store": str(work / "target-tokens.json"), "divisions": [DIVISION],
            "results_path": str(work / "target-results.jsonl"), "allow_failures": True,
        }
        lines = [json.dumps({"type": "SCHEMA", "stream": "generic_company", "key_properties":
                             ["division", "id"], "schema": _company_schema()})]
        lines += [json.dumps({"type": "RECORD", "stream": "generic_company", "record": {
            "name": f"Benchmark company {i}", "code": f"BENCH{i:06d}", "country": "NL"}})
            for i in range(records)]
        text = "\n".join(lines) + "\n"
        call_times: list[float] = []
        started = time.perf_counter()
        with patched_core_clock(clock, call_times):
            target = TargetExactOnline(config=config, validate_config=True)
            try:
                with redirect_stdout(io.StringIO()):
                    target.listen(file_input=io.StringIO(text))
            except SystemExit as stop:
                if stop.code not in (0, None):
                    raise
        wall = time.perf_counter() - started
        counts = sb.calls()
    outcomes: dict[str, int] = {}
    for line in (work / "target-results.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["type"] == "record":
            outcomes[entry["outcome"]] = outcomes.get(entry["outcome"], 0) + 1
    api_calls = sum(n for k, n in counts["by_endpoint"].items() if "oauth2" not in k)
    first, last = min(call_times), max(call_times)
    windows: dict[int, int] = {}
    for moment in call_times:
        windows[int(moment // 60)] = windows.get(int(moment // 60), 0) + 1
    ordered = [windows.get(w, 0) for w in range(min(windows), max(windows) + 1)]
    full = ordered[:-1] if len(ordered) > 1 else ordered  # the last window ends with the input
    minutes = (last - first) / 60
    writes = outcomes.get("created", 0)
    return TargetResult(
        records=records, scale=scale, outcomes=outcomes, calls=api_calls,
        sandbox_minutes=round(minutes, 2),
        writes_per_minute=round(writes / minutes, 1) if minutes else 0.0,
        full_windows=full, budget_fraction=round(sum(full) / (60 * len(full)), 3),
        responses_429=int(counts["by_status"].get("429", 0)), wall_seconds=round(wall, 1))


def _company_schema() -> dict[str, Any]:
    from exact_online_core.mappings import json_schema

    schema = json_schema("generic_company")
    schema.pop("$schema", None)
    return schema


# -- output ----------------------------------------------------------------------------------


def table(report: Report) -> str:
    out: list[str] = []
    m = report.machine
    out.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, "
               f"Python {m['python']}, singer-sdk {m['singer_sdk']}")
    if report.sizes:
        out.append("")
        out.append("API calls per stream (division 100001): full sync / no-change sync / "
                   "floor ceil(rows/1000)")
        header = f"{'rows':>10} | " + " | ".join(f"{s[:24]:>24}" for s in STREAM_ENDPOINTS)
        out.append(header)
        out.append("-" * len(header))
        for r in report.sizes:
            cells = [f"{r.full_calls[s]:>6} / {r.no_change_calls[s]:>2} / {r.floor_calls[s]:>6}"
                     for s in STREAM_ENDPOINTS]
            out.append(f"{r.rows:>10,} | " + " | ".join(f"{c:>24}" for c in cells))
        out.append("")
        out.append(f"{'rows':>10} | {'calls full/no-change':>20} | {'tap rec/s wall':>14} | "
                   f"{'tap rec/s CPU':>13} | {'json.dumps rec/s':>16} | {'ratio':>5} | "
                   f"{'tap peak RSS':>12} | {'sandbox rows/s':>14} | {'sandbox RSS':>11}")
        for r in report.sizes:
            calls = f"{r.full_total_calls}/{r.no_change_total_calls}"
            out.append(f"{r.rows:>10,} | {calls:>20} | {r.tap_records_per_s:>14,} | "
                       f"{r.tap_cpu_records_per_s:>13,} | {r.floor_records_per_s:>16,} | "
                       f"{r.ratio_to_floor:>5.2f} | {r.tap_peak_rss_mb:>9.0f} MB | "
                       f"{r.sandbox_rows_per_s:>14,} | {r.sandbox_peak_rss_mb:>8.0f} MB")
    if report.target is not None:
        t = report.target
        out.append("")
        out.append(f"Target, {t.records} creates into one division at 60 calls/min "
                   f"(sandbox clock x{t.scale:g}): {t.writes_per_minute} writes/min over "
                   f"{t.sandbox_minutes} sandbox minutes; full minute windows {t.full_windows} "
                   f"-> {t.budget_fraction:.3f} of the budget; 429 responses: "
                   f"{t.responses_429}; outcomes {t.outcomes}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated row counts in the division (default: %(default)s)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results.json"))
    parser.add_argument("--target-records", type=int, default=300,
                        help="records the target writes (0: skip the target)")
    parser.add_argument("--invoices", default="10000",
                        help="comma-separated invoice counts for the invoice benchmark "
                        "(default: %(default)s; empty: skip it)")
    parser.add_argument("--division-workers", default="", help="e.g. 1,4,8,20 (9 minutes)")
    parser.add_argument("--target-scale", type=float, default=10.0,
                        help="sandbox seconds per real second for the target run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure the tap's CPU and the json.dumps floor this many times "
                        "each, taking turns, and keep the least of each (a busy machine)")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="remove the tap's bytecode instead of writing it first")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.no_bytecode:
        drop_bytecode()
    else:
        compile_connector()
    report = Report(machine={**machine(), "tap_bytecode_compiled": not args.no_bytecode,
                             "PYTHONDONTWRITEBYTECODE": os.environ.get(
                                 "PYTHONDONTWRITEBYTECODE", "")})
    work = Path(tempfile.mkdtemp(prefix="exact-bench-"))
    try:
        for rows in sizes:
            report.sizes.append(measure_size(rows, work, args.repeat))
        invoice_sizes = [int(s) for s in args.invoices.replace("_", "").split(",") if s.strip()]
        invoice_results = [invoices.measure(n, work) for n in invoice_sizes]
        if args.division_workers:
            from benchmarks import division_workers  # it imports this module

            many = division_workers.measure(
                [int(n) for n in args.division_workers.split(",")],
                Path(args.output).with_name("division_workers.json"))
            print(division_workers.table(many), flush=True)
        if args.target_records > 0:
            print(f"  target: {args.target_records} creates at 60 calls/min ...", flush=True)
            report.target = measure_target(args.target_records, args.target_scale, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(report))
    Path(args.output).write_text(json.dumps(asdict(report), indent=2) + "\n")
    print(f"\nwritten: {args.output}")
    if invoice_results:
        print()
        print(invoices.table(invoice_results))
        written = Path(args.output).with_name("invoices.json")
        written.write_text(json.dumps(invoices.as_json(invoice_results), indent=2) + "\n")
        print(f"\nwritten: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
