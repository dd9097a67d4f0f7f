"""Many divisions, many workers: 1000 divisions of one login synced by 1, 4 and 16 workers.

    .venv/bin/python benchmarks/divisions.py                        # 1000 divisions, 1/4/16 workers
    .venv/bin/python benchmarks/divisions.py --divisions 100 --workers 1,4   # a quick run

The sandbox runs in its own process with ``--divisions`` divisions under one login, small
data in each, Exact's real limits (60 calls a minute and 5000 a day per division, 200
token calls a day) and its clock scaled ``--scale`` times (60: a sandbox minute is a real
second). The tokens are shared in PostgreSQL (``token_store: postgresql://...``, a fresh
database of the scripts/postgres.sh server per run). For each worker count W the divisions
are dealt round-robin to W worker processes (``tests/scale/tap_worker.py``: the tap, run on
the sandbox's clock, each with its own directory), all started at once, and measured:

- wall time from the start of the first worker to the exit of the last;
- the API calls the sandbox counted (per endpoint, per status: every 429 would show), and
  the calls per division next to the floor: the calls of one division synced alone (a
  process also lists the login's divisions, once or more: ``listing calls``, counted apart);
- the token endpoint's answers (all 200: the workers share one rotating token).

The sandbox is seeded once: the tap only reads, and every run starts without state and with
a fresh token database, so every run is the same full sync. Prints a table and writes
``benchmarks/divisions.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exact_online_sandbox.server import Sandbox  # noqa: E402

WORKER = str(ROOT / "tests" / "scale" / "tap_worker.py")
SMALL_EACH = {"accounts": 5, "contacts": 3, "items": 2, "invoices": 2, "projects": 0,
              "deleted": 1, "generic": 0, "sales_orders": 0, "quotations": 0,
              "purchase_entries": 0, "purchase_invoices": 0, "purchase_orders": 0}
"""Small data in each division: a few CRM, item and invoice rows (and the ledger's set-up
rows every division has), no finance documents, no rows of the other entities."""
TOKEN_CALL = "POST oauth2/token"


def postgres() -> str:
    """The DSN of the scripts/postgres.sh server (started when needed)."""
    done = subprocess.run([str(ROOT / "scripts" / "postgres.sh")], capture_output=True,
                          text=True, timeout=600, check=True)
    return done.stdout.strip()


@contextmanager
def token_database(dsn: str) -> Iterator[str]:
    name = f"exact_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield re.sub(r"/[^/]*$", f"/{name}", dsn)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def division_codes(sandbox: Sandbox) -> list[int]:
    token = sandbox.access_token()
    codes: list[int] = []
    path: str | None = "system/Divisions?$select=Code"
    while path:
        body = sandbox.call(token, path).json()["d"]
        codes += [int(row["Code"]) for row in body["results"]]
        following = body.get("__next")
        path = following.split("/100001/", 1)[1] if following else None
    return codes


def sync(sandbox: Sandbox, dsn: str, codes: list[int], workers: int, work: Path,
         timeout: float | None = None) -> dict[str, Any]:
    """``workers`` processes syncing ``codes`` between them; what the sandbox counted.

    Workers still running after ``timeout`` seconds are killed and the run is reported as
    not finished, with what was done by then."""
    with token_database(dsn) as token_store:
        seed = sandbox.mint_refresh_token()
        sandbox.clear_calls()
        processes = []
        started = time.monotonic()
        for n in range(workers):
            home = work / f"w{workers}-{n}"
            home.mkdir(parents=True)
            (home / "config.json").write_text(json.dumps({
                "base_url": sandbox.base_url, "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret, "refresh_token": seed,
                "token_store": token_store, "divisions": codes[n::workers]}))
            with open(home / "out.jsonl", "wb") as out, open(home / "err.log", "wb") as err:
                processes.append(subprocess.Popen(
                    [sys.executable, WORKER, str(home / "config.json")], stdout=out,
                    stderr=err, cwd=home, env={**os.environ, "HOME": str(home)}))
        finished = True
        exits = []
        for process in processes:
            left = None if timeout is None else max(0.0, started + timeout - time.monotonic())
            try:
                exits.append(process.wait(timeout=left))
            except subprocess.TimeoutExpired:
                finished = False
                process.kill()
                exits.append(process.wait())
        seconds = time.monotonic() - started
        failed = [n for n, code in enumerate(exits) if code != 0]
        if failed and finished:
            log = work / f"w{workers}-{failed[0]}" / "err.log"
            raise SystemExit(f"worker {failed[0]} failed: {log.read_text()[-3000:]}")
        calls = sandbox.calls()
    records = states = state_bytes = 0
    for n in range(workers):
        with open(work / f"w{workers}-{n}" / "out.jsonl", "rb") as out:
            for line in out:
                if line.startswith((b'{"type":"RECORD"', b'{"type": "RECORD"')):
                    records += 1
                elif line.startswith((b'{"type":"STATE"', b'{"type": "STATE"')):
                    states += 1
                    state_bytes += len(line)
    by_status = {status: count for status, count in calls["by_status"].items()}
    api = {endpoint: sum(statuses.values())
           for endpoint, statuses in calls["by_endpoint_status"].items() if endpoint != TOKEN_CALL}
    return {"workers": workers, "divisions": len(codes), "seconds": round(seconds, 1),
            "finished": finished, "records": records, "state_messages": states,
            "state_megabytes": round(state_bytes / 1e6, 1), "api_calls": sum(api.values()),
            "calls_per_division": round(sum(api.values()) / len(codes), 2),
            "by_endpoint": dict(sorted(api.items())),
            "responses_429": by_status.get("429", 0), "by_status": dict(sorted(by_status.items())),
            "other_than_200": {endpoint: statuses for endpoint, statuses
                               in sorted(calls["by_endpoint_status"].items())
                               if set(statuses) != {"200"}},
            "token_answers": calls["by_endpoint_status"].get(TOKEN_CALL, {})}


LISTING = "GET system/Divisions"
PAGE = 60
"""A tap process lists the login's divisions (60 a page: 17 pages for 1000) when a division's
row is needed before that division's own ``generic_workspace`` read has cached it (the
invoices' currency): once, or more often when its division threads ask at the same time.
Every other ``system/Divisions`` call is a division reading its own row."""


def listing_pages(divisions: int) -> int:
    return -(-divisions // PAGE)


def listing_calls(by_endpoint: dict[str, int], divisions: int) -> int:
    """The ``system/Divisions`` calls of a finished run that were listings, not own rows."""
    listing = by_endpoint.get(LISTING, 0) - divisions
    assert listing >= 0, by_endpoint
    return listing


def listings(calls: int, pages: int) -> str:
    """``34 (2 x 17)``: listing calls and, when they are whole listings, how many."""
    return f"{calls} ({calls // pages} x {pages})" if calls % pages == 0 else str(calls)


def table(results: dict[str, Any]) -> str:
    """The Markdown table of docs/benchmarks.md, from a run's JSON."""
    pages = listing_pages(results["divisions"])
    floor_calls = results["floor"]["by_endpoint"]
    floor = results["floor"]["calls_per_division"] - listing_calls(floor_calls, 1)
    lines = ["| workers | wall time | divisions/min | calls per division (floor) | "
             "listing calls | 429s | 401s (retried) | token calls | records | "
             "STATE messages (MB) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in results["runs"]:
        tokens = ", ".join(f"{n} x {s}" for s, n in sorted(run["token_answers"].items()))
        state = f"{run['state_messages']:,} ({run['state_megabytes']:,.1f})"
        expired = run.get("by_status", {}).get("401", 0) if "by_status" in run else "-"
        if not run["finished"]:  # killed: what it had flushed to stdout is a lower bound
            lines.append(
                f"| {run['workers']} | stopped after {run['seconds']:.0f} s | - | "
                f"{run['api_calls'] / run['divisions']:.2f} made | - | "
                f"{run['responses_429']} | {expired} | {tokens} | ≥ {run['records']:,} | "
                f"≥ {state} |")
            continue
        listing = listing_calls(run["by_endpoint"], run["divisions"])
        per_minute = run["divisions"] / run["seconds"] * 60
        own = (run["api_calls"] - listing) / run["divisions"]
        lines.append(
            f"| {run['workers']} | {run['seconds']:.1f} s | {per_minute:,.0f} | "
            f"{own:.2f} ({floor}) | {listings(listing, pages)} | {run['responses_429']} | "
            f"{expired} | {tokens} | {run['records']:,} | {state} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--divisions", type=int, default=1000)
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--scale", type=float, default=60.0)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "divisions.json"))
    parser.add_argument("--timeout", type=float, default=None,
                        help="stop a run whose workers take longer (seconds)")
    parser.add_argument("--table", metavar="JSON", help="print the table of an earlier run")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0
    counts = [int(text) for text in args.workers.split(",")]
    dsn = postgres()
    results: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%d"), "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()},
        "divisions": args.divisions, "scale": args.scale, "size_each": SMALL_EACH,
        "limits": {"minutely": 60, "daily": 5000, "token_daily": 200}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="exact-divisions-") as tmp, \
            Sandbox(seed=42, process=True, scale=args.scale) as sandbox:
        work = Path(tmp)
        seeding = time.monotonic()
        sandbox.reset(size=SMALL_EACH, divisions=args.divisions)
        results["seed_seconds"] = round(time.monotonic() - seeding, 1)
        codes = division_codes(sandbox)
        assert len(codes) == args.divisions, len(codes)
        results["load_before"] = os.getloadavg()
        floor = sync(sandbox, dsn, codes[:1], 1, work / "floor")
        results["floor"] = {"calls_per_division": floor["api_calls"],
                            "by_endpoint": floor["by_endpoint"]}
        print(f"floor: one division alone costs {floor['api_calls']} calls "
              f"({floor['by_endpoint']})", flush=True)
        for workers in counts:
            run = sync(sandbox, dsn, codes, workers, work, args.timeout)
            run["load_after"] = os.getloadavg()
            results["runs"].append(run)
            print(f"{workers:>3} workers: {run['seconds']:>7.1f} s"
                  f"{'' if run['finished'] else ' (stopped, not finished)'}, "
                  f"{run['records']} records, {run['state_messages']} STATE messages "
                  f"({run['state_megabytes']} MB), "
                  f"{run['calls_per_division']} calls/division, {run['responses_429']} x 429, "
                  f"token answers {run['token_answers']}", flush=True)
            # after each run: a run stopped later keeps the figures of the runs before it
            Path(args.output).write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
