"""Reference-typed streams and the pack's ledger through one
`meltano run tap-exact-online target-postgres` (loaded once for this module): the reference's
types become typed PostgreSQL columns (no jsonb), keys included, and docs/ledger.md's trial
balance and open-receivables SQL run as written on that load and match the sandbox's rows."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from exact_online_sandbox.server import Sandbox

from .helpers import DIVISIONS, Exact, Pipeline, Warehouse, pipeline_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"
ONE_LINERS = [
    {"name": "projects", "endpoint": "sync/Project/Projects"},
    {"name": "journals", "endpoint": "financial/Journals"},
    {"name": "reporting_balance", "endpoint": "financial/ReportingBalance"},
]
LEDGER = ("exact_transaction_lines", "exact_gl_accounts", "exact_receivables")


@pytest.fixture(scope="module")
def loaded(
    meltano_installed: None, warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """One load of the three one-line custom streams and the ledger's pack streams."""
    tmp = tmp_path_factory.mktemp("reference-load")
    with Sandbox(seed=42, process=True, data_dir=tmp / "sandbox") as sandbox:
        sandbox.set_limits(minutely=100000, daily=100000)
        pipeline = pipeline_for(sandbox, warehouse, tmp, "reference_load")
        selected = [s["name"] for s in ONE_LINERS] + list(LEDGER)
        pipeline.run("tap-exact-online", "target-postgres", env={
            "TAP_EXACT_ONLINE_CUSTOM_STREAMS": json.dumps(ONE_LINERS),
            "TAP_EXACT_ONLINE__SELECT": json.dumps([f"{s}.*" for s in selected]),
        })
        try:
            yield pipeline
        finally:
            warehouse.sql(f'DROP SCHEMA IF EXISTS "{pipeline.schema}" CASCADE')


def column_types(pipeline: Pipeline, table: str) -> dict[str, str]:
    rows = pipeline.warehouse.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{pipeline.schema}' AND table_name = '{table}'"
    )
    return {row["column_name"]: row["data_type"] for row in rows}


def test_reference_typed_streams_load_into_typed_columns(loaded: Pipeline) -> None:
    projects = column_types(loaded, "projects")
    journals = column_types(loaded, "journals")
    balances = column_types(loaded, "reporting_balance")
    for table, types in (("projects", projects), ("journals", journals),
                         ("reporting_balance", balances)):
        assert types, f"{table} was not loaded"
        assert "jsonb" not in types.values(), (table, types)
    assert projects["ID"] == "uuid" and projects["division"] == "bigint"
    assert projects["Timestamp"] == "bigint"
    assert projects["Modified"].startswith("timestamp")
    assert projects["BudgetedAmount"] in ("double precision", "numeric")
    assert projects["BlockEntry"] == "boolean"
    assert projects["Code"] in ("text", "character varying")
    assert balances["ID"] == "bigint" and balances["Amount"] in ("double precision", "numeric")
    assert loaded.rows("reporting_balance", '"ID", "Amount"')


def doc_query(heading: str) -> str:
    """The ```sql block under ``## heading`` in docs/ledger.md."""
    section = DOC.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def in_schema(sql: str, schema: str) -> str:
    return re.sub(r"\b(exact_\w+) AS", rf'"{schema}".\1 AS', sql)


def test_trial_balance_and_open_receivables_run_on_the_loaded_ledger(loaded: Pipeline) -> None:
    exact = Exact(loaded.sandbox)

    trial = loaded.warehouse.query(in_schema(doc_query("Trial balance"), loaded.schema))
    assert {row["division"] for row in trial} == set(DIVISIONS)
    expected: dict[tuple[int, str], float] = defaultdict(float)
    for division in DIVISIONS:
        day_book = [r for r in trial if r["division"] == division]
        debit = sum(float(r["debit"]) for r in day_book)
        credit = sum(float(r["credit"]) for r in day_book)
        assert debit > 0 and abs(debit - credit) < 0.01, (division, debit, credit)
        codes = {r["ID"]: r["Code"] for r in exact.rows(
            "sync/Financial/GLAccounts?$filter=Timestamp gt 0L&", "ID,Code", division)}
        for line in exact.rows("sync/Financial/TransactionLines?$filter=Timestamp gt 0L&",
                               "GLAccount,AmountDC", division):
            expected[(division, codes[line["GLAccount"]])] += float(line["AmountDC"] or 0)
    assert {(r["division"], r["gl_account"]): float(r["balance"]) for r in trial} == {
        key: round(value, 2) for key, value in expected.items()}

    owed = loaded.warehouse.query(in_schema(doc_query("Open receivables"), loaded.schema))
    truth: dict[tuple[int, str], float] = defaultdict(float)
    for division in DIVISIONS:
        for row in exact.rows("cashflow/Receivables", "AccountCode,AmountDC,IsFullyPaid",
                              division):
            if not row["IsFullyPaid"]:
                truth[(division, row["AccountCode"])] += abs(float(row["AmountDC"]))
    assert owed, "the demo ledger has open receivables"
    assert {(r["division"], r["account_code"]): float(r["open_amount"]) for r in owed} == {
        key: round(value, 2) for key, value in truth.items()}
