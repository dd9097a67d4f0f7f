"""The README's demo: a real Meltano pipeline against the seeded Exact Online sandbox.

1. starts the sandbox on 127.0.0.1:8765 (its own process, fresh data),
2. `meltano run tap-exact-online target-jsonl` and shows the rows per stream,
3. changes and deletes a few rows in the sandbox and books a payment,
4. runs again and shows that only those arrived (deletes flagged with _sdc_deleted_at),
5. writes corrections/companies.jsonl back with target-exact-online and reads them back,
6. stops the sandbox.

By default it uses the port meltano.yml's dev environment names (8765) and the project's own
./output, .exact-online/sandbox-tokens.json and Meltano state. `--port 0` and `--work-dir DIR`
run it beside anything else (the tests do): any free port, everything written under DIR.
`scripts/demo.sh --help` lists the options.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.http import ExactClient
from exact_online_core.odata import parse_collection
from exact_online_sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parent.parent
STATE_ID = "dev:tap-exact-online-to-target-jsonl"
PORT = 8765
DIVISION = 100001


def meltano(*args: str, settings: dict[str, str]) -> None:
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **settings}
    command = [str(ROOT / ".venv" / "bin" / "meltano"), *args]
    print(f"$ meltano {' '.join(args)}", flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def line_counts(output: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in sorted(output.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            counts[path.stem] = sum(1 for _ in handle)
    return counts


def new_lines(output: Path, before: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    arrived: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(output.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle][before.get(path.stem, 0) :]
        if rows:
            arrived[path.stem] = rows
    return arrived


def make_changes(sandbox: Sandbox, token_store: Path) -> None:
    """Rename two companies, delete a contact, pay an invoice: through Exact's own API."""
    settings = json.loads((ROOT / "sample_config.json").read_text())
    settings["base_url"] = sandbox.base_url
    settings["redirect_uri"] = sandbox.redirect_uri
    settings["token_store"] = str(token_store)
    config = ExactConfig.from_mapping(settings)
    with ExactClient(config, broker_from_config(config)) as client:
        accounts = client.get(
            "crm/Accounts", division=DIVISION, params={"$select": "ID,Name", "$top": "2"}
        )
        for account in parse_collection(accounts).rows:
            client.put(
                f"crm/Accounts(guid'{account['ID']}')",
                {"Name": account["Name"] + " (renamed)"},
                division=DIVISION,
            )
            print(f"   renamed company {account['Name']!r}")
        contacts = client.get(
            "crm/Contacts", division=DIVISION, params={"$select": "ID,FullName", "$top": "1"}
        )
        contact = parse_collection(contacts).rows[0]
        client.delete(f"crm/Contacts(guid'{contact['ID']}')", division=DIVISION)
        print(f"   deleted contact {contact['FullName']!r}")
        open_items = client.get(
            "cashflow/Receivables",
            division=DIVISION,
            params={
                "$select": "TransactionEntryID,InvoiceNumber,AmountFC",
                "$filter": "IsFullyPaid eq false",
                "$top": "1",
            },
        )
        for item in parse_collection(open_items).rows:
            sandbox.book_payment(DIVISION, item["TransactionEntryID"])
            print(f"   booked a payment of {item['AmountFC']} on invoice {item['InvoiceNumber']}")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh",
        description="The README's demo: the seeded Exact Online sandbox and real `meltano run`s "
        "(full sync, changes, incremental sync, write-back).",
    )
    parser.add_argument(
        "--port", type=int, default=PORT,
        help=f"the sandbox's port on 127.0.0.1 (default {PORT}, the one meltano.yml's dev "
        "environment names); 0 = any free port, handed to the pipelines by environment",
    )
    parser.add_argument(
        "--work-dir", type=Path, metavar="DIR",
        help="write the output files, the token store and Meltano's state (its system "
        "database) under DIR instead of ./output, .exact-online/sandbox-tokens.json and "
        ".meltano/meltano.db, so nothing of the project's own is touched",
    )
    return parser.parse_args(argv)


def pipeline_settings(base_url: str, output: Path, token_store: Path,
                      work_dir: Path | None) -> dict[str, str]:
    """The environment that aims the pipelines at this sandbox and these paths (Meltano's
    environment variables outrank meltano.yml); none when the defaults apply."""
    settings: dict[str, str] = {}
    if base_url != f"http://127.0.0.1:{PORT}":
        settings["TAP_EXACT_ONLINE_BASE_URL"] = base_url
        settings["TARGET_EXACT_ONLINE_BASE_URL"] = base_url
    if work_dir is not None:
        settings.update({
            "MELTANO_DATABASE_URI": f"sqlite:///{work_dir / 'meltano.db'}",
            "TAP_EXACT_ONLINE_TOKEN_STORE": str(token_store),
            "TARGET_EXACT_ONLINE_TOKEN_STORE": str(token_store),
            "TARGET_JSONL_DESTINATION_PATH": str(output),
            "TARGET_EXACT_ONLINE_RESULTS_PATH": str(output / "exact-writes.jsonl"),
        })
    return settings


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    work_dir: Path | None = args.work_dir.resolve() if args.work_dir is not None else None
    if args.port and not port_free(args.port):
        print(f"Port {args.port} is in use; stop whatever listens there (an old sandbox?) and "
              "retry, or take any free port with --port 0.")
        return 1
    if work_dir is None:
        output, token_store = ROOT / "output", ROOT / ".exact-online" / "sandbox-tokens.json"
    else:
        work_dir.mkdir(parents=True, exist_ok=True)
        output, token_store = work_dir / "output", work_dir / "sandbox-tokens.json"
    for stale in (output, token_store):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    data_dir = Path(tempfile.mkdtemp(prefix="exact-sandbox-demo-"))
    with Sandbox(seed=42, process=True, port=args.port, data_dir=data_dir) as sandbox:
        print(f"Exact Online sandbox on {sandbox.base_url} (seeded, divisions 100001, 100002)")
        settings = pipeline_settings(sandbox.base_url, output, token_store, work_dir)
        meltano("install", settings=settings)
        meltano("state", "clear", "--force", STATE_ID, settings=settings)

        print("\n== First run: a full sync ==")
        meltano("run", "tap-exact-online", "target-jsonl", settings=settings)
        first = line_counts(output)
        for stream, count in first.items():
            print(f"   {stream:<32} {count:>6} rows")

        print("\n== Changes in Exact Online ==")
        make_changes(sandbox, token_store)

        print("\n== Second run: incremental, only what changed ==")
        meltano("run", "tap-exact-online", "target-jsonl", settings=settings)
        for stream, rows in new_lines(output, first).items():
            deleted = sum(1 for row in rows if row.get("_sdc_deleted_at"))
            print(f"   {stream:<32} {len(rows):>3} new rows ({deleted} deletions)")
            for row in rows:
                label = row.get("name") or row.get("invoice_code") or row.get("last_name") or ""
                flag = " DELETED" if row.get("_sdc_deleted_at") else ""
                extra = (
                    f" status={row['status']} balance={row['balance']}" if "balance" in row else ""
                )
                print(f"      {row['id']} {label}{extra}{flag}")
        print("\n== Write-back: corrections/companies.jsonl into Exact Online ==")
        meltano("run", "tap-jsonl--company-corrections", "target-exact-online", settings=settings)
        for line in (output / "exact-writes.jsonl").read_text(encoding="utf-8").splitlines():
            result = json.loads(line)
            if "outcome" in result:
                exact_id = result.get("exact_id") or ""
                print(f"   {result['input_key']}: {result['outcome']} {exact_id}")
        before = line_counts(output)
        meltano("run", "tap-exact-online", "target-jsonl", settings=settings)
        for row in new_lines(output, before).get("generic_company", []):
            print(f"   the tap now sees company {row['name']!r} ({row['id']})")

        calls = sandbox.calls()
        throttled = calls["by_status"].get("429", 0)
        print(f"\nAPI calls answered by the sandbox: {calls['total']} (429s: {throttled})")
    shutil.rmtree(data_dir, ignore_errors=True)
    shown = "./output" if work_dir is None else str(output)
    print(f"Sandbox stopped. Output files are in {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
