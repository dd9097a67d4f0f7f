"""The sandbox's own figures: seeding time, rows/s served and peak RSS at 10k, 100k and 1M rows.

    .venv/bin/python benchmarks/sandbox.py                   # 10k, 100k and 1M rows
    .venv/bin/python benchmarks/sandbox.py --sizes 10000     # a quick run

The sandbox is the substrate of every benchmark of the connector, so it must be faster than
the tap. For each size, as in ``benchmarks/run.py``, the sandbox runs in its own process on an
on-disk store with that many rows in each seeded division (50 % accounts, 30 % contacts, 20 %
items, each item with its sales price, plus the small default set of everything else; one
division, 100001, unless ``--divisions`` says more), and:

- seeding: wall time from starting the process to its first healthy answer (start-up,
  seeding every division, and the store's indexes), and the CPU time of the sandbox process
  and its seed workers by then (the load average is recorded too: wall time on a shared
  machine is mostly waiting);
- serving: ``sync/CRM/Accounts``, ``sync/CRM/Contacts`` and ``sync/Logistics/Items`` of
  division 100001 paged with plain ``requests`` (1,000 rows a page, ``__next`` followed),
  twice: every property (no ``$select``: 164, 71 and 115 properties a row), and the
  connector's ``$select`` (its models' properties, 9-11 a row). Over the three endpoints:
  rows/s of wall time (the whole paging, the client's own work included), rows/s **served**
  (rows / the wall time inside the requests: from sending each request until the last byte
  of its body is read, ``requests`` without streaming; the client's JSON parsing and row
  checks are outside it: the time the sandbox takes to serve, as a client sees it), and
  rows per CPU second of the sandbox process (its ``utime + stime``: the sandbox's own
  cost, whatever else runs on the machine); every row is counted and checked to be there
  once;
- concurrency: two readers at once, each in its own client process (two threads of one
  client would share its GIL, and its JSON parsing would hold the sandbox back), each paging
  ``sync/CRM/Accounts`` with the connector's ``$select`` (division 100001 and, with
  ``--divisions 2`` or more, 100002; else both 100001), as two division workers or
  partitions of a sync do: aggregate rows / wall seconds of the concurrent phase (from the
  first reader's start to the last one's end, the clients' work included), and **served**:
  each reader's rows / its seconds inside the requests, summed over the two;
- memory: the sandbox process's peak RSS (``VmHWM``: seeding included), and its RSS after
  serving.

Prints a table and writes ``benchmarks/sandbox-results.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import DIVISION, machine, split  # noqa: E402
from exact_online_core.mappings import MODELS, exact_select  # noqa: E402
from exact_online_sandbox.server import Sandbox  # noqa: E402

ENDPOINTS: dict[str, str] = {
    # sync endpoint: the entity whose rows it serves (for the row count)
    "sync/CRM/Accounts": "crm/Accounts",
    "sync/CRM/Contacts": "crm/Contacts",
    "sync/Logistics/Items": "logistics/Items",
}


SELECTS: dict[str, str] = {
    # the connector's $select on each endpoint (what a sync asks for)
    model.read_path: ",".join(exact_select(model)) for model in MODELS.values()
    if model.read_path in ENDPOINTS
}


@dataclass
class Served:
    rows: int
    pages: int
    seconds: float                     # wall time of the whole paging (client work included)
    cpu_seconds: float                 # the sandbox process's CPU
    rows_per_s: float
    rows_per_cpu_s: float
    request_seconds: float = 0.0       # wall time inside the requests: each request sent
    #                                    until the last byte of its body is read
    served_rows_per_s: float = 0.0     # rows / request_seconds


@dataclass
class SizeResult:
    rows: int
    seed_seconds: float
    seed_cpu_seconds: float            # CPU of the sandbox process and its seed workers by
    #                                    its first healthy answer
    load_average: float                # the machine's 1-minute load when the size started
    load_after_seed: float             # and when the seeded sandbox first answered
    served: dict[str, Served]          # "<endpoint>" (every property), "<endpoint> $select"
    rows_per_s: float                  # every property, over the three endpoints
    rows_per_cpu_s: float
    select_rows_per_s: float           # the connector's $select, over the three endpoints
    select_rows_per_cpu_s: float
    peak_rss_mb: float
    rss_after_mb: float
    served_rows_per_s: float = 0.0     # rows / wall seconds inside the requests (no client
    select_served_rows_per_s: float = 0.0  # parsing), every property and the $select
    concurrent_rows_per_s: float = 0.0     # two readers at once: aggregate rows / wall s
    concurrent_served_rows_per_s: float = 0.0  # each reader's rows / its request s, summed
    concurrent_rows_per_cpu_s: float = 0.0     # aggregate rows / the sandbox's CPU s


@dataclass
class Report:
    machine: dict[str, Any]
    divisions: int                     # divisions seeded, each with the size's rows
    sizes: list[SizeResult] = field(default_factory=list)


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``), with ``children``
    that of its children that have ended too (the seed's worker processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def status_mb(pid: int, name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1]) / 1024
    return 0.0


def page_through(session: requests.Session, url: str) -> tuple[int, int, float, float]:
    """Follow ``__next`` from ``url``: rows, pages, seconds, and the seconds inside the
    requests (each request sent until its body's last byte is read: ``requests`` reads the
    whole body before ``get`` returns; parsing it and checking its rows is outside);
    each row's key seen once."""
    rows, pages, seen, in_requests = 0, 0, set(), 0.0
    next_url: str | None = url
    started = time.perf_counter()
    while next_url:
        sent = time.perf_counter()
        response = session.get(next_url, timeout=300)
        content = response.content
        in_requests += time.perf_counter() - sent
        response.raise_for_status()
        body = json.loads(content)["d"]
        for row in body["results"]:
            seen.add(row["Timestamp"])
        rows += len(body["results"])
        pages += 1
        next_url = body.get("__next")
    seconds = time.perf_counter() - started
    assert len(seen) == rows, "a row was served twice"
    return rows, pages, seconds, in_requests


CONCURRENT_ENDPOINT = "sync/CRM/Accounts"


def concurrent_reader(url: str, token: str, start: Any, results: Any) -> None:
    """One reader of the concurrent phase (in its own process): waits for ``start``, pages
    ``url``, puts (rows, start, end, seconds inside the requests) on ``results``."""
    session = requests.Session()
    session.headers.update({"Accept": "application/json", "Authorization": f"Bearer {token}"})
    session.get(url.split("?")[0] + "?$top=1", timeout=60).raise_for_status()  # connected
    start.wait()
    began = time.perf_counter()
    count, _, _, in_requests = page_through(session, url)
    results.put((count, began, time.perf_counter(), in_requests))
    session.close()


def measure_concurrent(sandbox: Sandbox, pid: int, divisions: int) -> tuple[int, int, int]:
    """Two readers at once (see the module's docstring): rows/s of the phase's wall time,
    served rows/s summed over the readers, and rows per CPU second of the sandbox."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    second = 100002 if divisions >= 2 else DIVISION
    urls = [f"{sandbox.api_url}/{division}/{CONCURRENT_ENDPOINT}?$filter=Timestamp gt 0L"
            f"&$select={SELECTS[CONCURRENT_ENDPOINT]}" for division in (DIVISION, second)]
    token = sandbox.access_token()
    readers = [ctx.Process(target=concurrent_reader, args=(url, token, start, results))
               for url in urls]
    for reader in readers:
        reader.start()
    time.sleep(3)  # both started and connected (their imports done) before the phase
    cpu = cpu_seconds(pid)
    start.set()
    finished = [results.get(timeout=3600) for _ in readers]
    cpu = cpu_seconds(pid) - cpu
    for reader in readers:
        reader.join(timeout=60)
        assert reader.exitcode == 0, f"a concurrent reader failed ({reader.exitcode})"
    expected = sum(sandbox.row_count(ENDPOINTS[CONCURRENT_ENDPOINT], division)
                   for division in (DIVISION, second))
    total = sum(f[0] for f in finished)
    assert total == expected, f"concurrent: {total} rows served, {expected} stored"
    wall = max(f[2] for f in finished) - min(f[1] for f in finished)
    served = sum(f[0] / f[3] for f in finished)
    return round(total / wall), round(served), round(total / max(cpu, 0.01))


def measure_size(rows: int, work: Path, divisions: int) -> SizeResult:
    data = work / f"sandbox-{rows}"
    load = os.getloadavg()[0]
    started = time.perf_counter()
    sandbox = Sandbox(seed=42, size=split(rows), process=True, data_dir=data,
                      startup_timeout=3600, divisions=divisions).start()
    seed_seconds = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    try:
        assert sandbox._proc is not None
        pid = sandbox._proc.pid
        seed_cpu = cpu_seconds(pid, children=True)
        print(f"  {rows:>9,} rows: started and seeded in {seed_seconds:.1f} s "
              f"({seed_cpu:.1f} CPU s, load {load:.1f} → {load_after:.1f}); serving ...",
              flush=True)
        sandbox.set_limits(minutely=10**9, daily=10**9, token_daily=10**6)
        session = requests.Session()
        session.headers.update({"Accept": "application/json"})
        served: dict[str, Served] = {}
        for select in ("", "$select"):
            for endpoint, entity in ENDPOINTS.items():
                # a fresh token per endpoint: one lives 10 minutes, a 1M-row run is longer
                session.headers["Authorization"] = f"Bearer {sandbox.access_token()}"
                expected = sandbox.row_count(entity, DIVISION)
                url = f"{sandbox.api_url}/{DIVISION}/{endpoint}?$filter=Timestamp gt 0L"
                if select:
                    url += f"&$select={SELECTS[endpoint]}"
                cpu = cpu_seconds(pid)
                count, pages, seconds, in_requests = page_through(session, url)
                cpu = cpu_seconds(pid) - cpu
                assert count == expected, f"{endpoint}: {count} rows served, {expected} stored"
                served[f"{endpoint} {select}".strip()] = Served(
                    count, pages, round(seconds, 2), round(cpu, 2), round(count / seconds),
                    round(count / max(cpu, 0.01)), round(in_requests, 3),
                    round(count / in_requests))
        session.close()
        concurrent = measure_concurrent(sandbox, pid, divisions)
        peak, after = status_mb(pid, "VmHWM"), status_mb(pid, "VmRSS")
    finally:
        sandbox.stop()
        shutil.rmtree(data, ignore_errors=True)
    def rate(selected: bool, per: str) -> float:
        runs = [s for name, s in served.items() if name.endswith("$select") == selected]
        spent = sum(float(getattr(s, per)) for s in runs)
        return round(sum(s.rows for s in runs) / max(spent, 0.01))

    return SizeResult(rows=rows, seed_seconds=round(seed_seconds, 1),
                      seed_cpu_seconds=round(seed_cpu, 1), load_average=round(load, 1),
                      load_after_seed=round(load_after, 1),
                      served=served,
                      rows_per_s=rate(False, "seconds"),
                      rows_per_cpu_s=rate(False, "cpu_seconds"),
                      select_rows_per_s=rate(True, "seconds"),
                      select_rows_per_cpu_s=rate(True, "cpu_seconds"),
                      peak_rss_mb=round(peak, 1), rss_after_mb=round(after, 1),
                      served_rows_per_s=rate(False, "request_seconds"),
                      select_served_rows_per_s=rate(True, "request_seconds"),
                      concurrent_rows_per_s=concurrent[0],
                      concurrent_served_rows_per_s=concurrent[1],
                      concurrent_rows_per_cpu_s=concurrent[2])


def table(report: Report) -> str:
    m = report.machine
    out = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, "
           f"Python {m['python']}; {report.divisions} division(s) of each size seeded", ""]
    out.append("rows/s over the three sync endpoints: wall time of the paging (client work "
               "included) / per CPU second of the sandbox;")
    out.append("served: rows / wall time inside the requests (request sent to the body's last "
               "byte read; no client parsing)")
    out.append(f"{'rows':>10} | {'seed s':>7} | {'seed CPU':>8} | {'every property':>17} | "
               f"{'connector $select':>17} | {'served: every / $select':>23} | "
               f"{'peak RSS':>9} | {'RSS after':>9}")
    for r in report.sizes:
        out.append(f"{r.rows:>10,} | {r.seed_seconds:>7.1f} | {r.seed_cpu_seconds:>8.1f} | "
                   f"{r.rows_per_s:>7,} / {r.rows_per_cpu_s:>7,} | "
                   f"{r.select_rows_per_s:>7,} / {r.select_rows_per_cpu_s:>7,} | "
                   f"{r.served_rows_per_s:>10,} / {r.select_served_rows_per_s:>10,} | "
                   f"{r.peak_rss_mb:>6.0f} MB | {r.rss_after_mb:>6.0f} MB")
    out.append("")
    for r in report.sizes:
        out.append(f"{r.rows:,} rows: " + "; ".join(
            f"{name} {s.rows_per_s:,} r/s, served {s.served_rows_per_s:,} r/s "
            f"({s.rows_per_cpu_s:,}/CPU s)" for name, s in r.served.items()))
    for r in report.sizes:
        out.append(f"{r.rows:,} rows, two readers at once ({CONCURRENT_ENDPOINT} $select): "
                   f"{r.concurrent_rows_per_s:,} r/s, served {r.concurrent_served_rows_per_s:,}"
                   f" r/s ({r.concurrent_rows_per_cpu_s:,}/CPU s)")
    if len(report.sizes) > 1:
        growth = report.sizes[-1].peak_rss_mb - report.sizes[0].peak_rss_mb
        out.append(f"\npeak RSS from {report.sizes[0].rows:,} to {report.sizes[-1].rows:,} "
                   f"rows: {growth:+.0f} MB")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated row counts per division (default: %(default)s)")
    parser.add_argument("--divisions", type=int, default=1,
                        help="divisions seeded with that many rows each (default: %(default)s)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "sandbox-results.json"))
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    report = Report(machine=machine(), divisions=args.divisions)
    work = Path(tempfile.mkdtemp(prefix="exact-sandbox-bench-"))
    try:
        for rows in sizes:
            result = measure_size(rows, work, args.divisions)
            report.sizes.append(result)
            # each size's figures as soon as they exist (a 1M run is long)
            print(f"  {rows:>9,} rows: {result.rows_per_s:,} rows/s every property "
                  f"(served {result.served_rows_per_s:,}, {result.rows_per_cpu_s:,}/CPU s), "
                  f"{result.select_rows_per_s:,} rows/s $select (served "
                  f"{result.select_served_rows_per_s:,}, {result.select_rows_per_cpu_s:,}/CPU "
                  f"s), two readers at once {result.concurrent_rows_per_s:,} rows/s (served "
                  f"{result.concurrent_served_rows_per_s:,}), peak RSS "
                  f"{result.peak_rss_mb:.0f} MB", flush=True)
            Path(args.output).write_text(json.dumps(asdict(report), indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(report))
    print(f"\nwritten: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
