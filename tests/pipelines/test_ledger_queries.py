"""docs/ledger.md's trial balance and open-receivables SQL, run as written on a PostgreSQL
load of the sandbox's ledger, and checked against the sandbox's own rows."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from .helpers import DIVISIONS, Exact, Pipeline

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"
STREAMS = ("exact_transaction_lines", "exact_gl_accounts", "exact_receivables")


def doc_query(heading: str) -> str:
    """The ```sql block under ``## heading`` in docs/ledger.md."""
    section = DOC.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def in_schema(sql: str, schema: str) -> str:
    return re.sub(r"\b(exact_\w+) AS", rf'"{schema}".\1 AS', sql)


def test_trial_balance_and_open_receivables_run_on_the_loaded_ledger(
    pipeline: Pipeline,
) -> None:
    env = {"TAP_EXACT_ONLINE__SELECT": json.dumps([f"{s}.*" for s in STREAMS])}
    pipeline.run("tap-exact-online", "target-postgres", env=env)
    exact = Exact(pipeline.sandbox)

    trial = pipeline.warehouse.query(in_schema(doc_query("Trial balance"), pipeline.schema))
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

    owed = pipeline.warehouse.query(in_schema(doc_query("Open receivables"), pipeline.schema))
    truth: dict[tuple[int, str], float] = defaultdict(float)
    for division in DIVISIONS:
        for row in exact.rows("cashflow/Receivables", "AccountCode,AmountDC,IsFullyPaid",
                              division):
            if not row["IsFullyPaid"]:
                truth[(division, row["AccountCode"])] += abs(float(row["AmountDC"]))
    assert owed, "the demo ledger has open receivables"
    assert {(r["division"], r["account_code"]): float(r["open_amount"]) for r in owed} == {
        key: round(value, 2) for key, value in truth.items()}
