"""Divisions in parallel inside one tap process: 20 divisions under Exact's real limits.

    .venv/bin/python benchmarks/division_workers.py                       # 1, 4, 8, 20 workers
    .venv/bin/python benchmarks/division_workers.py --workers 1,4 --rows 300   # a quick run

One tap process (the ``division_workers`` setting: threads, not processes; for processes see
``benchmarks/divisions.py``) syncs ``--divisions`` divisions of one login, every stream
selected, against the sandbox in its own process under Exact's real per-division limits (60
calls a minute, 5000 a day), its clock scaled ``--scale`` times. The tap runs on the
sandbox's clock (``tests/scale/tap_worker.py``), so its rate-limit waits are sandbox
minutes, not real ones.

A real first sync is bound by the 60 calls a minute: Exact serves 1000 rows a page, and a
division of a few hundred thousand rows needs hundreds of calls. Seeding 20 such divisions
would take the sandbox far longer than the sync, so the sandbox's ``page_size`` option
(``--page-size``, default 10 rows a page on the sync and bulk endpoints; plain endpoints
keep Exact's 60) gives each division the same number of calls with 100 times fewer rows:
``--rows`` rows a division (half accounts, 30 % contacts, 20 % items, and ``--invoices``
sales invoices with their lines and receivables) is a few hundred calls a division, several
minutes of each division's budget.

The sandbox clock is first moved to a minute after the next UTC midnight, so that every run
reads on the same date (an invoice's ``overdue`` status depends on the date of the read).
For each worker count W (the first is the baseline, 1: one division after another) the run
starts on fresh minute windows (the sandbox clock is moved on a minute) without state and
with a fresh token store, and reports:

- wall time: sandbox minutes from the sync's first answer to its last (what the run would
  take against Exact, whose minute windows the sandbox keeps), and real seconds of the tap
  process (start-up included);
- the API calls: per division (the tap counts its answers per division and status), in all
  (the sandbox counts them), and the 429 answers (the sandbox's count);
- the CPU seconds of the tap process and of the sandbox process (a run that is not waiting
  for Exact's budget waits for the machine's cores);
- whether the output is identical to the baseline's: the RECORD messages as multisets
  (``time_extracted`` aside) and the last STATE.

Prints a table and writes ``benchmarks/division_workers.json``; also run by
``benchmarks/run.py --division-workers 1,4,8,20``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import machine, split  # noqa: E402
from benchmarks.sandbox import cpu_seconds  # noqa: E402
from exact_online_sandbox import seed as seeding  # noqa: E402
from exact_online_sandbox.server import Sandbox  # noqa: E402

WORKER = str(ROOT / "tests" / "scale" / "tap_worker.py")
MINUTELY, DAILY = 60, 5000
"""Exact's real limits per division: the sandbox's defaults, set again to be explicit."""
TOKEN = "POST oauth2/token"
DAY = 86400.0
"""The runs start a minute after a UTC midnight of sandbox time, so that every run reads on
the same date: an invoice's status (overdue or pending) depends on the date it is read."""


def size_of(rows: int, invoices: int) -> dict[str, int]:
    """A division's data: ``rows`` CRM and item rows, ``invoices`` invoices, little else."""
    return {**split(rows), "invoices": invoices, "projects": 0, "deleted": 3, "generic": 1}


def config_for(sandbox: Sandbox, codes: list[int], workers: int, home: Path) -> Path:
    path = home / "config.json"
    path.write_text(json.dumps({
        "base_url": sandbox.base_url, "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret, "refresh_token": sandbox.mint_refresh_token(),
        "token_store": str(home / "tokens.json"), "divisions": codes,
        "division_workers": workers}))
    return path


CLOCK_BOOKMARK_MARGIN = 3600.0
"""A STATE instant within this many sandbox seconds before the run's first answer (or after
it) is the run's own clock: a read on ``Modified`` bookmarks the time it began less a margin."""


def output_of(path: Path, span: tuple[float, float]
              ) -> tuple[Counter[str], dict[str, Any] | None, int]:
    """The RECORD messages as a multiset (``time_extracted`` aside), the last STATE with the
    run's own clock readings masked (``span``: its first and last answer, sandbox time), and
    the number of STATE messages."""
    records: Counter[str] = Counter()
    state: dict[str, Any] | None = None
    states = 0
    with open(path, "rb") as handle:
        for line in handle:
            message = json.loads(line)
            if message["type"] == "RECORD":
                message.pop("time_extracted", None)
                records[json.dumps(message, sort_keys=True)] += 1
            elif message["type"] == "STATE":
                state = message["value"]
                states += 1
    return records, masked(state, span[0] - CLOCK_BOOKMARK_MARGIN, span[1]), states


def masked(value: Any, since: float, until: float) -> Any:
    """``value`` with every ISO instant between ``since`` and ``until`` (epoch seconds)
    replaced by ``<this run's clock>``: two runs read the clock at different times."""
    if isinstance(value, dict):
        return {key: masked(item, since, until) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item, since, until) for item in value]
    if isinstance(value, str) and value[:2] == "20" and len(value) >= 20:
        try:
            instant = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return value
        if since <= instant <= until:
            return "<this run's clock>"
    return value


def sync(sandbox: Sandbox, codes: list[int], workers: int, home: Path) -> dict[str, Any]:
    """One tap process syncing ``codes`` with ``workers`` division threads, measured; its
    files in ``home``."""
    home.mkdir()
    config = config_for(sandbox, codes, workers, home)
    sandbox.advance_clock(60.0)  # every division starts on a fresh minute window
    sandbox.clear_calls()
    assert sandbox._proc is not None
    sandbox_cpu = cpu_seconds(sandbox._proc.pid)
    load = os.getloadavg()
    started = time.monotonic()
    with open(home / "out.jsonl", "wb") as out, open(home / "err.log", "wb") as err:
        process = subprocess.Popen(
            [sys.executable, WORKER, str(config), "--answered", str(home / "answered.json")],
            stdout=out, stderr=err, cwd=home, env={**os.environ, "HOME": str(home)})
        _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the tap failed ({workers} workers): "
                         f"{(home / 'err.log').read_text()[-3000:]}")
    sandbox_cpu = cpu_seconds(sandbox._proc.pid) - sandbox_cpu
    calls = sandbox.calls()
    answered = json.loads((home / "answered.json").read_text())
    per_division: Counter[str] = Counter()
    for key, count in answered["by_division_status"].items():
        division, _status = key.split()
        per_division[division] += count
    own = [per_division[str(code)] for code in codes]
    api = {endpoint: count for endpoint, count in calls["by_endpoint"].items()
           if endpoint != TOKEN}
    return {
        "workers": workers, "real_seconds": round(seconds, 1),
        "sandbox_minutes": round((answered["last"] - answered["first"]) / 60, 2),
        "span": [answered["first"], answered["last"]],
        "tap_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "sandbox_cpu_seconds": round(sandbox_cpu, 1),
        "load_before": [round(x, 1) for x in load],
        "api_calls": sum(api.values()),
        "calls_per_division": {"min": min(own), "max": max(own),
                               "mean": round(sum(own) / len(own), 1)},
        "calls_outside_divisions": sum(per_division.values()) - sum(own),
        "responses_429": int(calls["by_status"].get("429", 0)),
        "by_status": dict(sorted(calls["by_status"].items())),
        "by_endpoint": dict(sorted(api.items())),
    }


def compare(baseline: tuple[dict[str, Any], Path], run: dict[str, Any], output: Path) -> None:
    """Add the output figures to ``run``, and whether its ``output`` is the baseline's."""
    records, state, states = output_of(output, run["span"])
    run["records"] = sum(records.values())
    run["state_messages"] = states
    base_records, base_state, _ = output_of(baseline[1], baseline[0]["span"])
    run["same_records"] = records == base_records
    if records != base_records:
        run["records_only_in_this_run"] = sum((records - base_records).values())
        run["records_only_in_the_baseline"] = sum((base_records - records).values())
        run["record_examples"] = [*list(records - base_records)[:3],
                                  *list(base_records - records)[:3]]
    run["same_final_state"] = state == base_state
    if state != base_state:
        run["state_differences"] = differences(base_state, state)[:20]


def differences(one: Any, other: Any, at: str = "") -> list[str]:
    """Where two JSON values differ: ``/bookmarks/x/partitions[3]/replication_key_value:
    1 != 2``."""
    if isinstance(one, dict) and isinstance(other, dict):
        return [found for key in sorted(set(one) | set(other))
                for found in differences(one.get(key), other.get(key), f"{at}/{key}")]
    if isinstance(one, list) and isinstance(other, list) and len(one) == len(other):
        return [found for n, (a, b) in enumerate(zip(one, other, strict=True))
                for found in differences(a, b, f"{at}[{n}]")]
    return [] if one == other else [f"{at}: {json.dumps(one)[:200]} != {json.dumps(other)[:200]}"]


def table(results: dict[str, Any]) -> str:
    """The Markdown table of docs/benchmarks.md, from a run's JSON."""
    lines = ["| division_workers | wall time (sandbox min) | of sequential | real seconds | "
             "calls per division (min-max) | API calls | 429s | records | same records | "
             "same final STATE | tap CPU s | sandbox CPU s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|:---:|---:|---:|"]
    base = results["runs"][0]["sandbox_minutes"]
    for run in results["runs"]:
        per = run["calls_per_division"]
        lines.append(
            f"| {run['workers']} | {run['sandbox_minutes']:.1f} | "
            f"{run['sandbox_minutes'] / base:.3f} | {run['real_seconds']:.1f} | "
            f"{per['mean']:.1f} ({per['min']}-{per['max']}) | {run['api_calls']:,} | "
            f"{run['responses_429']} | {run['records']:,} | "
            f"{'yes' if run['same_records'] else 'NO'} | "
            f"{'yes' if run['same_final_state'] else 'NO'} | {run['tap_cpu_seconds']} | "
            f"{run['sandbox_cpu_seconds']} |")
    return "\n".join(lines)


def measure(counts: list[int], output: Path, *, divisions: int = 20, rows: int = 2000,
            invoices: int = 40, page_size: int = 10, scale: float = 10.0,
            keep: Path | None = None) -> dict[str, Any]:
    """Seed the divisions, run the tap with each of ``counts`` division workers (the first
    is the baseline), write the figures to ``output`` after each run and return them."""
    size = size_of(rows, invoices)
    codes = list(seeding.division_codes(divisions))
    results: dict[str, Any] = {
        "machine": machine(), "divisions": divisions, "scale": scale,
        "page_size": page_size, "size_each": size,
        "limits": {"minutely": MINUTELY, "daily": DAILY}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="exact-division-workers-") as tmp, \
            Sandbox(seed=42, process=True, scale=scale) as sandbox:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        seeding_started = time.monotonic()
        sandbox.reset(size=size, divisions=divisions)
        results["seed_seconds"] = round(time.monotonic() - seeding_started, 1)
        sandbox.set_limits(minutely=MINUTELY, daily=DAILY, page_size=page_size)
        sandbox.advance_clock(DAY - sandbox.now() % DAY + 60)
        for workers in counts:
            home = work / f"run{len(results['runs']) + 1}-w{workers}"
            run = sync(sandbox, codes, workers, home)
            first = results["runs"][0] if results["runs"] else run
            compare((first, work / f"run1-w{counts[0]}" / "out.jsonl"), run, home / "out.jsonl")
            results["runs"].append(run)
            # after each run: a run stopped later keeps the figures of the runs before it
            output.write_text(json.dumps(results, indent=1) + "\n")
            report(run, results["runs"][0])
    return results


def report(run: dict[str, Any], baseline: dict[str, Any]) -> None:
    """One run's line of progress, and where its output differs from the baseline's."""
    print(f"{run['workers']:>3} workers: {run['sandbox_minutes']:.1f} sandbox min "
          f"({run['sandbox_minutes'] / baseline['sandbox_minutes']:.3f} of the baseline), "
          f"{run['real_seconds']} s real, {run['api_calls']} calls "
          f"({run['calls_per_division']} a division), {run['responses_429']} x 429, "
          f"{run['records']} records, same records {run['same_records']}, same final state "
          f"{run['same_final_state']}, CPU tap {run['tap_cpu_seconds']} s / sandbox "
          f"{run['sandbox_cpu_seconds']} s", flush=True)
    for difference in run.get("state_differences", []):
        print(f"    final STATE differs at {difference}", flush=True)
    for example in run.get("record_examples", []):
        print(f"    a record of one run only: {example}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--divisions", type=int, default=20)
    parser.add_argument("--workers", default="1,4,8,20",
                        help="division_workers per run; the first is the baseline")
    parser.add_argument("--rows", type=int, default=2000, help="CRM and item rows a division")
    parser.add_argument("--invoices", type=int, default=40, help="sales invoices a division")
    parser.add_argument("--page-size", type=int, default=10,
                        help="rows a page of the sync and bulk endpoints (Exact: 1000)")
    parser.add_argument("--scale", type=float, default=10.0,
                        help="sandbox seconds per real second")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "division_workers.json"))
    parser.add_argument("--keep", metavar="DIR",
                        help="keep each run's output, STATE and logs in DIR (a new directory)")
    parser.add_argument("--table", metavar="JSON", help="print the table of an earlier run")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0
    results = measure([int(text) for text in args.workers.split(",")], Path(args.output),
                      divisions=args.divisions, rows=args.rows, invoices=args.invoices,
                      page_size=args.page_size, scale=args.scale,
                      keep=Path(args.keep) if args.keep else None)
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
