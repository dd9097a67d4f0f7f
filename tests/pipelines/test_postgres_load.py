"""`meltano run tap-exact-online target-postgres` on the seeded sandbox, checked row for row."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from exact_online_sandbox.server import Sandbox

from .helpers import DIVISIONS, Exact, Pipeline, Warehouse, only, pipeline_for

TABLES = {
    "generic_company",
    "generic_contact",
    "generic_user",
    "generic_workspace",
    "accounting_invoice",
    "accounting_invoice_item",
    "accounting_invoice_line_item",
}


@pytest.fixture(scope="module")
def loaded(
    meltano_installed: None, warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """One first load of the seeded sandbox, read by the tests that only look at it (a load
    is a real `meltano run` into PostgreSQL: tens of seconds each)."""
    tmp = tmp_path_factory.mktemp("first-load")
    with Sandbox(seed=42, process=True, data_dir=tmp / "sandbox") as sandbox:
        sandbox.set_limits(minutely=100000, daily=100000)
        pipeline = pipeline_for(sandbox, warehouse, tmp, "first_load")
        pipeline.run("tap-exact-online", "target-postgres")
        try:
            yield pipeline
        finally:
            warehouse.sql(f'DROP SCHEMA IF EXISTS "{pipeline.schema}" CASCADE')


def test_first_load_holds_exactly_the_sandbox_rows_of_each_division(loaded: Pipeline) -> None:
    pipeline = loaded
    exact = Exact(pipeline.sandbox)

    assert pipeline.warehouse.tables(pipeline.schema) >= TABLES
    companies = {
        (row["division"], row["id"]): (row["name"], row["email"])
        for row in pipeline.rows("generic_company", "division, id, name, email")
    }
    assert companies == {
        (division, row["ID"]): (row["Name"], row["Email"])
        for division in DIVISIONS
        for row in exact.rows("crm/Accounts", "ID,Name,Email", division)
    }
    assert pipeline.keys("generic_contact") == exact.keys("crm/Contacts")
    assert pipeline.keys("accounting_invoice_item") == exact.keys("logistics/Items")
    assert pipeline.keys("accounting_invoice") == exact.keys(
        "salesinvoice/SalesInvoices", "InvoiceID"
    )
    assert pipeline.keys("accounting_invoice_line_item") == exact.keys(
        "salesinvoice/SalesInvoiceLines"
    )


def test_invoice_lines_land_in_their_own_table_and_inside_their_invoice(
    loaded: Pipeline,
) -> None:
    pipeline = loaded
    lines = pipeline.rows("accounting_invoice_line_item", "division, id, invoice_id")
    invoices = pipeline.rows("accounting_invoice", "division, id, line_items")
    assert lines and invoices
    by_invoice: dict[tuple[int, str], set[str]] = {}
    for line in lines:
        by_invoice.setdefault((line["division"], line["invoice_id"]), set()).add(line["id"])
    for invoice in invoices:
        nested = invoice["line_items"]
        nested = json.loads(nested) if isinstance(nested, str) else nested
        assert {line["id"] for line in nested} == by_invoice.get(
            (invoice["division"], invoice["id"]), set()
        )


def test_divisions_are_kept_apart_by_the_composite_primary_key(loaded: Pipeline) -> None:
    pipeline = loaded
    for table in TABLES:
        counts = {
            row["division"]: row["n"]
            for row in pipeline.rows(table, "division, count(*) AS n", "true GROUP BY division")
        }
        assert set(counts) == set(DIVISIONS), table
        key = pipeline.warehouse.query(
            "SELECT kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu USING (constraint_schema, "
            "constraint_name) WHERE tc.constraint_type = 'PRIMARY KEY' "
            f"AND tc.table_schema = '{pipeline.schema}' AND tc.table_name = '{table}'"
        )
        assert {row["column_name"] for row in key} == {"division", "id"}, table


def test_second_load_updates_edited_rows_and_flags_deleted_ones(pipeline: Pipeline) -> None:
    streams = only("generic_company", "generic_contact")
    pipeline.run("tap-exact-online", "target-postgres", env=streams)
    exact = Exact(pipeline.sandbox)
    renamed = {
        **exact.rename_accounts(100001, 2, "(renamed)"),
        **exact.rename_accounts(100002, 1, "(renamed)"),
    }
    deleted = exact.delete_contacts(100001, 2)

    pipeline.run("tap-exact-online", "target-postgres", env=streams)

    names = {row["id"]: row["name"] for row in pipeline.rows("generic_company", "id, name")}
    for account_id, name in renamed.items():
        assert names[account_id] == name
    assert pipeline.keys("generic_company") == exact.keys("crm/Accounts")
    # Soft delete (target-postgres' default): the row stays, flagged with _sdc_deleted_at.
    flagged = pipeline.rows("generic_contact", "division, id", "_sdc_deleted_at IS NOT NULL")
    assert {(row["division"], row["id"]) for row in flagged} == {(100001, i) for i in deleted}
    assert pipeline.keys("generic_contact", "_sdc_deleted_at IS NULL") == exact.keys(
        "crm/Contacts"
    )


def test_field_mappings_from_the_environment_become_columns(pipeline: Pipeline) -> None:
    mappings = {
        "generic_company": {"kvk": "ChamberOfCommerce"},
        "accounting_invoice_item": {"colour": {"exact": "FreeTextField_01", "type": "string"}},
    }
    pipeline.run(
        "tap-exact-online",
        "target-postgres",
        env={"TAP_EXACT_ONLINE_FIELD_MAPPINGS": json.dumps(mappings),
             **only("generic_company", "accounting_invoice_item")},
    )
    exact = Exact(pipeline.sandbox)

    kvk = {(r["division"], r["id"]): r["kvk"] for r in pipeline.rows("generic_company",
                                                                     "division, id, kvk")}
    assert kvk == {
        (division, row["ID"]): row["ChamberOfCommerce"]
        for division in DIVISIONS
        for row in exact.rows("crm/Accounts", "ID,ChamberOfCommerce", division)
    }
    assert any(kvk.values())
    colour = {(r["division"], r["id"]): r["colour"]
              for r in pipeline.rows("accounting_invoice_item", "division, id, colour")}
    assert colour == {
        (division, row["ID"]): row["FreeTextField_01"]
        for division in DIVISIONS
        for row in exact.rows("logistics/Items", "ID,FreeTextField_01", division)
    }


@pytest.mark.slow
def test_weekly_full_table_job_hard_deletes_rows_deleted_in_exact(pipeline: Pipeline) -> None:
    streams = only("generic_company", "generic_contact", "accounting_invoice_line_item")
    pipeline.run("exact-to-postgres-full-refresh", env=streams)
    exact = Exact(pipeline.sandbox)
    deleted = exact.delete_contacts(100002, 2)
    renamed = exact.rename_accounts(100001, 1, "(full)")

    pipeline.run("exact-to-postgres-full-refresh", env=streams)

    ids = {row["id"] for row in pipeline.rows("generic_contact", "division, id")}
    assert not ids & set(deleted)
    assert pipeline.keys("generic_contact") == exact.keys("crm/Contacts")
    assert pipeline.rows("generic_contact", "id", "_sdc_deleted_at IS NOT NULL") == []
    names = {row["id"]: row["name"] for row in pipeline.rows("generic_company", "id, name")}
    assert all(names[i] == name for i, name in renamed.items())
    assert pipeline.keys("accounting_invoice_line_item") == exact.keys(
        "salesinvoice/SalesInvoiceLines"
    )
