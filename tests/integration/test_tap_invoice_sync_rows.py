"""The tap on Exact's sync rows for invoices, as the sandbox serves them: a header row
(LineNumber 0) and one row per line; a change restamps the header row and the changed line.

The real tap executable against the sandbox as a real HTTP server: each change in Exact
gives exactly the records it should, in both invoice streams.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .helpers import TapRun, rest, rows_of, selected_catalog

RunTap = Callable[..., TapRun]
Config = Callable[..., Path]
DIVISION = 100001
STREAMS = {"accounting_invoice", "accounting_invoice_line_item"}


def open_invoice(sandbox: Sandbox, lines: int) -> dict[str, Any]:
    """An open invoice with ``lines`` lines, created through Exact's API."""
    account = rest(sandbox, "GET", "crm/Accounts", params={"$select": "ID", "$top": "1"})
    items = rest(sandbox, "GET", "logistics/Items", params={"$select": "ID", "$top": str(lines)})
    body = {"OrderedBy": rows_of(account)[0]["ID"],
            "SalesInvoiceLines": [{"Item": row["ID"], "Quantity": 1} for row in rows_of(items)]}
    invoice = rest(sandbox, "POST", "salesinvoice/SalesInvoices", json=body).json()["d"]
    found = rest(sandbox, "GET", "salesinvoice/SalesInvoiceLines", params={
        "$select": "ID", "$filter": f"InvoiceID eq guid'{invoice['InvoiceID']}'"})
    return {"id": invoice["InvoiceID"], "lines": sorted(r["ID"] for r in rows_of(found))}


def synced(tap_config: Config, run_tap: RunTap) -> tuple[Path, dict[str, Any], TapRun]:
    config = tap_config(divisions=[DIVISION])
    catalog = selected_catalog(json.loads(config.read_text()), STREAMS)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    return config, catalog, first


def test_sandbox_serves_header_rows_and_the_tap_makes_no_line_of_them(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    rows = rows_of(rest(sandbox, "GET", "sync/SalesInvoice/SalesInvoices", params={
        "$select": "ID,InvoiceID,LineNumber,Timestamp"}))
    headers = {r["ID"] for r in rows if r["LineNumber"] == 0}
    assert headers, "the sandbox serves Exact's header rows"
    _, _, first = synced(tap_config, run_tap)
    lines = first.records("accounting_invoice_line_item")
    assert lines and all(r["line_number"] >= 1 for r in lines)
    assert not {r["id"] for r in lines} & headers
    invoices = [r["id"] for r in first.records("accounting_invoice")]
    assert len(invoices) == len(set(invoices)) == len({r["InvoiceID"] for r in rows})


def test_a_changed_line_brings_that_line_and_its_invoice_only(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    invoice = open_invoice(sandbox, 3)
    config, catalog, first = synced(tap_config, run_tap)
    changed = invoice["lines"][1]
    rest(sandbox, "PUT", f"salesinvoice/SalesInvoiceLines(guid'{changed}')",
         json={"Quantity": 7})
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.returncode == 0, second.stderr
    assert [(r["id"], r["quantity"]) for r in second.records("accounting_invoice_line_item")
            ] == [(changed, 7.0)]
    [again] = second.records("accounting_invoice")
    assert again["id"] == invoice["id"]
    assert {line["id"]: line["quantity"] for line in again["line_items"]}[changed] == 7.0


def test_a_header_change_brings_the_invoice_and_no_line(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    invoice = open_invoice(sandbox, 2)
    config, catalog, first = synced(tap_config, run_tap)
    rest(sandbox, "PUT", f"salesinvoice/SalesInvoices(guid'{invoice['id']}')",
         json={"Description": "Header only"})
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.returncode == 0, second.stderr
    assert second.records("accounting_invoice_line_item") == []
    assert [(r["id"], r["description"]) for r in second.records("accounting_invoice")] == [
        (invoice["id"], "Header only")]


def test_removing_an_invoices_last_line_tombstones_it_and_re_sends_the_empty_invoice(
    sandbox: Sandbox, tap_config: Config, run_tap: RunTap
) -> None:
    invoice = open_invoice(sandbox, 1)
    config, catalog, first = synced(tap_config, run_tap)
    [line] = invoice["lines"]
    rest(sandbox, "DELETE", f"salesinvoice/SalesInvoiceLines(guid'{line}')")
    second = run_tap(config, state=first.final_state, catalog=catalog)
    assert second.returncode == 0, second.stderr
    assert [(r["id"], bool(r["_sdc_deleted_at"]))
            for r in second.records("accounting_invoice_line_item")] == [(line, True)]
    live = [r for r in second.records("accounting_invoice") if not r.get("_sdc_deleted_at")]
    assert [(r["id"], r["line_items"]) for r in live] == [(invoice["id"], [])]
