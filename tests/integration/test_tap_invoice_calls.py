"""What the invoice streams cost in API calls, counted by the sandbox over HTTP.

The real tap with ``accounting_invoice`` and ``accounting_invoice_line_item`` selected: a
full sync costs about Exact's floor (the sync rows and the receivables, each read once in
pages), a run with nothing changed one call per stream, and a run after 100 changed invoices
a few calls more (the unchanged lines looked up many invoices a call). Pages are made small
(100 rows) for the full sync so a small seed spans many pages.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exact_online_sandbox.server import Sandbox

from .helpers import TAP, TapRun, rows_of, selected_catalog

DIVISION = 100001
INVOICES = 260
PAGE = 100
STREAMS = {"accounting_invoice", "accounting_invoice_line_item"}
SYNC = "GET sync/SalesInvoice/SalesInvoices"
RECEIVABLES = "GET bulk/Cashflow/Receivables"
DATA = {SYNC, RECEIVABLES, "GET bulk/SalesInvoice/SalesInvoiceLines",
        "GET salesinvoice/SalesInvoices", "GET salesinvoice/SalesInvoiceLines"}


def calls(sandbox: Sandbox) -> dict[str, int]:
    return {k: int(v) for k, v in sandbox.calls()["by_endpoint"].items()}


@pytest.fixture(scope="module")
def seeded_sandbox() -> Iterator[Sandbox]:
    """One sandbox for the module (seeding takes seconds); a test's changes leave the
    invoice count as it is."""
    size = {"accounts": 60, "contacts": 20, "items": 30, "invoices": INVOICES}
    with Sandbox(seed=42, size=size) as sb:
        sb.set_limits(minutely=100000, daily=100000)
        yield sb


def tap_files(sb: Sandbox, where: Path) -> tuple[Path, dict[str, Any]]:
    settings = {"base_url": sb.base_url, "client_id": sb.client_id,
                "client_secret": sb.client_secret, "redirect_uri": sb.redirect_uri,
                "refresh_token": sb.mint_refresh_token(),
                "token_store": str(where / "tokens.json"), "divisions": [DIVISION]}
    config = where / "tap-config.json"
    config.write_text(json.dumps(settings))
    return config, selected_catalog(settings, STREAMS)


def run(sb: Sandbox, where: Path, state: dict[str, Any] | None = None, page: int | None = None
        ) -> tuple[TapRun, dict[str, int]]:
    """The real tap on the invoice streams; its output and the calls the sandbox counted."""
    config, catalog = tap_files(sb, where)
    command = [TAP, "--config", str(config)]
    (where / "catalog.json").write_text(json.dumps(catalog))
    command += ["--catalog", str(where / "catalog.json")]
    if state is not None:
        (where / "state.json").write_text(json.dumps(state))
        command += ["--state", str(where / "state.json")]
    sb.set_limits(page_size=page)  # type: ignore[arg-type]
    sb.clear_calls()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    sb.set_limits(page_size=None)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return TapRun(done.returncode, done.stderr, messages), calls(sb)


@pytest.fixture(scope="module")
def first(seeded_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[TapRun, dict[str, int]]:
    """The full sync, in pages of :data:`PAGE` rows."""
    return run(seeded_sandbox, tmp_path_factory.mktemp("first"), page=PAGE)


@pytest.fixture(scope="module")
def quiet(seeded_sandbox: Sandbox, first: tuple[TapRun, dict[str, int]],
          tmp_path_factory: pytest.TempPathFactory) -> tuple[TapRun, dict[str, int]]:
    """A run right after the full sync: nothing changed."""
    return run(seeded_sandbox, tmp_path_factory.mktemp("quiet"), first[0].final_state)


def change_invoices(sb: Sandbox, count: int) -> None:
    """``count`` editable invoices changed through Exact's API: half a header, half a line."""
    token = sb.access_token()

    def call(method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        response = sb.call(token, path, method, division=DIVISION, **kwargs)
        response.raise_for_status()
        return rows_of(response) if method == "GET" else []

    found = call("GET", "bulk/SalesInvoice/SalesInvoices",
                 params={"$select": "InvoiceID", "$filter": "Status lt 50"})
    assert len(found) >= count
    for n, row in enumerate(found[:count]):
        invoice = row["InvoiceID"]
        if n % 2 == 0:
            call("PUT", f"salesinvoice/SalesInvoices(guid'{invoice}')",
                 json={"Description": f"changed {n}"})
            continue
        lines = call("GET", "salesinvoice/SalesInvoiceLines",
                     params={"$select": "ID", "$filter": f"InvoiceID eq guid'{invoice}'"})
        call("PUT", f"salesinvoice/SalesInvoiceLines(guid'{lines[0]['ID']}')",
             json={"Quantity": 3})


def test_full_sync_of_invoices_and_lines_costs_at_most_a_fifth_above_the_floor(
    seeded_sandbox: Sandbox, first: tuple[TapRun, dict[str, int]]
) -> None:
    sandbox, (synced, made) = seeded_sandbox, first
    lines = sandbox.row_count("salesinvoice/SalesInvoiceLines", DIVISION)
    receivables = sandbox.row_count("cashflow/Receivables", DIVISION)
    assert len(synced.records("accounting_invoice")) == INVOICES
    fixed = sum(v for k, v in made.items() if k not in DATA)
    floor = math.ceil((INVOICES + lines) / PAGE) + math.ceil(receivables / PAGE) + fixed
    assert made[SYNC] == math.ceil((INVOICES + lines) / PAGE)  # both streams, one read
    assert sum(made.values()) <= 1.2 * floor, made


def test_a_run_with_nothing_changed_costs_one_call_per_stream(
    quiet: tuple[TapRun, dict[str, int]]
) -> None:
    unchanged, made = quiet
    assert unchanged.records() == []
    data = {k: v for k, v in made.items() if k in DATA}
    assert data == {SYNC: 1, RECEIVABLES: 1}, made  # the receivables check: the payments


def test_a_run_after_100_changed_invoices_costs_at_most_10_calls_more(
    seeded_sandbox: Sandbox, quiet: tuple[TapRun, dict[str, int]], tmp_path: Path
) -> None:
    change_invoices(seeded_sandbox, 100)
    changed, made = run(seeded_sandbox, tmp_path, quiet[0].final_state)
    assert len(changed.keys("accounting_invoice")) == 100
    assert sum(made.values()) <= sum(quiet[1].values()) + 10, made
