"""The README's demo: a real Meltano pipeline against the seeded Exact Online sandbox.

1. starts the sandbox on 127.0.0.1:8765 (its own process, fresh data),
2. `meltano run tap-exact-online target-jsonl` and shows the rows per stream,
3. changes and deletes a few rows in the sandbox and books a payment,
4. runs again and shows that only those arrived (deletes flagged with _sdc_deleted_at),
5. writes corrections/companies.jsonl back with target-exact-online and reads them back,
6. stops the sandbox.
"""

from __future__ import annotations

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
OUTPUT = ROOT / "output"
STATE_ID = "dev:tap-exact-online-to-target-jsonl"
PORT = 8765
DIVISION = 100001


def meltano(*args: str) -> None:
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [str(ROOT / ".venv" / "bin" / "meltano"), *args]
    print(f"$ meltano {' '.join(args)}", flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def line_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in sorted(OUTPUT.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            counts[path.stem] = sum(1 for _ in handle)
    return counts


def new_lines(before: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    arrived: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(OUTPUT.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle][before.get(path.stem, 0) :]
        if rows:
            arrived[path.stem] = rows
    return arrived


def make_changes(sandbox: Sandbox) -> None:
    """Rename two companies, delete a contact, pay an invoice: through Exact's own API."""
    settings = json.loads((ROOT / "sample_config.json").read_text())
    settings["token_store"] = str(ROOT / ".exact-online" / "sandbox-tokens.json")
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


def main() -> int:
    if not port_free(PORT):
        print(f"Port {PORT} is in use; stop whatever listens there (an old sandbox?) and retry.")
        return 1
    for stale in (OUTPUT, ROOT / ".exact-online" / "sandbox-tokens.json"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    data_dir = Path(tempfile.mkdtemp(prefix="exact-sandbox-demo-"))
    with Sandbox(seed=42, process=True, port=PORT, data_dir=data_dir) as sandbox:
        print(f"Exact Online sandbox on {sandbox.base_url} (seeded, divisions 100001, 100002)")
        meltano("install")
        meltano("state", "clear", "--force", STATE_ID)

        print("\n== First run: a full sync ==")
        meltano("run", "tap-exact-online", "target-jsonl")
        first = line_counts()
        for stream, count in first.items():
            print(f"   {stream:<32} {count:>6} rows")

        print("\n== Changes in Exact Online ==")
        make_changes(sandbox)

        print("\n== Second run: incremental, only what changed ==")
        meltano("run", "tap-exact-online", "target-jsonl")
        for stream, rows in new_lines(first).items():
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
        meltano("run", "tap-jsonl--company-corrections", "target-exact-online")
        for line in (OUTPUT / "exact-writes.jsonl").read_text(encoding="utf-8").splitlines():
            result = json.loads(line)
            if "outcome" in result:
                exact_id = result.get("exact_id") or ""
                print(f"   {result['input_key']}: {result['outcome']} {exact_id}")
        before = line_counts()
        meltano("run", "tap-exact-online", "target-jsonl")
        for row in new_lines(before).get("generic_company", []):
            print(f"   the tap now sees company {row['name']!r} ({row['id']})")

        calls = sandbox.calls()
        throttled = calls["by_status"].get("429", 0)
        print(f"\nAPI calls answered by the sandbox: {calls['total']} (429s: {throttled})")
    shutil.rmtree(data_dir, ignore_errors=True)
    print("Sandbox stopped. Output files are in ./output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
