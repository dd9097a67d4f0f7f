"""STATE output with many divisions: bytes and messages of STATE, before and after the cadence.

    .venv/bin/python benchmarks/state.py                      # 50 and 200 divisions
    .venv/bin/python benchmarks/state.py --divisions 50,200,1000 --before-up-to 200

One login reaching D divisions (the sandbox in this process, its seed listing D divisions),
each with 12 companies and 12 contacts read from the sync endpoints in pages of 6 rows: two
pages per stream per division. The real tap (``generic_company`` and ``generic_contact``
selected, limits lifted, ``division_workers`` 4) makes a full sync and a no-change sync from
its last STATE; its stdout is read line by line: STATE messages, their bytes, the largest,
and the RECORD bytes beside them. "before" is the tap as of ``--before`` (default: the last
commit that emitted a STATE after every page), run from a ``git archive`` of that commit
with the same core; "after" is this tree's. Writes ``benchmarks/state.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exact_online_sandbox import seed as seeding  # noqa: E402
from exact_online_sandbox.server import Sandbox  # noqa: E402

BEFORE = "cb51497"
"""main before the STATE cadence: a STATE after every page."""
STREAMS = {"generic_company": "GET sync/CRM/Accounts", "generic_contact": "GET sync/CRM/Contacts"}
ROWS = 12
PAGE = 6
SIZE = {"accounts": ROWS, "contacts": ROWS, "items": 0, "invoices": 0, "projects": 0,
        "deleted": 0, "generic": 0, "sales_orders": 0, "quotations": 0,
        "purchase_entries": 0, "purchase_invoices": 0, "purchase_orders": 0}
TAP_MAIN = "from tap_exact_online.tap import main; main()"


def division_codes(count: int) -> list[int]:
    """The sandbox's reachable divisions when it serves ``count``: 100001, 100002, 100004..."""
    return list(seeding.division_codes(count))


@contextmanager
def many_divisions(count: int) -> Iterator[Sandbox]:
    """A sandbox (thread, in-memory) whose login reaches ``count`` divisions."""
    with Sandbox(seed=count, size=SIZE) as sandbox:  # seed: its own seed cache entry
        sandbox.reset(seed=count, size=SIZE, divisions=count)
        sandbox.set_limits(page_size=PAGE, minutely=10**6, daily=10**7)
        yield sandbox


def run_tap(source: Path, work: Path, config: dict[str, Any], state: dict[str, Any] | None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """One tap process run from ``source``; its STATE and RECORD figures and last STATE."""
    (work / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-c", TAP_MAIN, "--config", str(work / "config.json"),
               "--catalog", str(work / "catalog.json")]
    if state is not None:
        (work / "state.json").write_text(json.dumps(state))
        command += ["--state", str(work / "state.json")]
    env = {**os.environ, "PYTHONPATH": str(source)}
    states = state_bytes = largest = records = record_bytes = 0
    last = b""
    started = time.perf_counter()
    with open(work / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env,
                                cwd=work)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(b'{"type":"STATE"'):
                states += 1
                state_bytes += len(line)
                largest = max(largest, len(line))
                last = line
            elif line.startswith(b'{"type":"RECORD"'):
                records += 1
                record_bytes += len(line)
        _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the tap failed: {(work / 'stderr.log').read_text()[-2000:]}")
    figures = {"state_messages": states, "state_bytes": state_bytes,
               "largest_state_bytes": largest, "records": records, "record_bytes": record_bytes,
               "seconds": round(time.perf_counter() - started, 1),
               "tap_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}
    return figures, json.loads(last)["value"]


def source_tree(revision: str, into: Path) -> Path:
    """``tap_exact_online`` as of ``revision``, on its own (the core is this tree's)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "tap_exact_online"],
                             capture_output=True, check=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def measure(count: int, sources: dict[str, Path], work: Path) -> dict[str, Any]:
    from tap_exact_online.tap import TapExactOnline

    started = time.perf_counter()
    with many_divisions(count) as sandbox:
        seeded = time.perf_counter() - started
        config = {"base_url": sandbox.base_url, "client_id": sandbox.client_id,
                  "client_secret": sandbox.client_secret,
                  "refresh_token": sandbox.mint_refresh_token(),
                  "token_store": str(work / "tokens.json"), "divisions": division_codes(count),
                  "division_workers": 4}
        catalog = TapExactOnline(config=config).catalog_dict
        for stream in catalog["streams"]:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = stream["tap_stream_id"] in STREAMS
        (work / "catalog.json").write_text(json.dumps(catalog))
        result: dict[str, Any] = {"divisions": count, "seed_seconds": round(seeded, 1)}
        for label, source in sources.items():
            sandbox.clear_calls()
            full, state = run_tap(source, work, config, None)
            calls = sandbox.calls()["by_endpoint"]
            full["pages"] = sum(int(calls.get(endpoint, 0)) for endpoint in STREAMS.values())
            no_change, _ = run_tap(source, work, config, state)
            result[label] = {"full": full, "no_change": no_change}
            print(f"{count} divisions, {label}: full {full}; no change {no_change}", flush=True)
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| divisions | sync pages | records (bytes) | tap | STATE messages | STATE bytes "
             "| largest STATE | no-change run: STATE messages / bytes | tap CPU s |",
             "|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for result in results:
        for label in ("before", "after"):
            if label not in result:
                continue
            full, quiet = result[label]["full"], result[label]["no_change"]
            lines.append(
                f"| {result['divisions']:,} | {full['pages']:,} | {full['records']:,} "
                f"({full['record_bytes']:,}) | {label} | {full['state_messages']:,} | "
                f"{full['state_bytes']:,} | {full['largest_state_bytes']:,} | "
                f"{quiet['state_messages']:,} / {quiet['state_bytes']:,} | "
                f"{full['tap_cpu_seconds']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--divisions", default="50,200",
                        help="comma-separated division counts (default: %(default)s)")
    parser.add_argument("--before", default=BEFORE,
                        help="the commit measured as 'before' (default: %(default)s)")
    parser.add_argument("--before-up-to", type=int, default=200,
                        help="measure 'before' only up to this many divisions (it grows with "
                        "divisions x pages; default: %(default)s)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "state.json"))
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        before = source_tree(args.before, Path(tmp) / "before")
        for count in (int(n) for n in args.divisions.split(",")):
            sources = {"after": ROOT}
            if count <= args.before_up_to:
                sources = {"before": before, **sources}
            work = Path(tmp) / f"d{count}"
            work.mkdir()
            results.append(measure(count, sources, work))
            Path(args.output).write_text(json.dumps({
                "date": time.strftime("%Y-%m-%d"), "before": args.before,
                "rows_per_stream_and_division": ROWS, "page_size": PAGE,
                "streams": list(STREAMS), "results": results}, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
