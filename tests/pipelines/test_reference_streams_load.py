"""Three one-line custom streams through `meltano run tap-exact-online target-postgres`: the
reference's types become typed PostgreSQL columns (no jsonb), keys included."""

from __future__ import annotations

import json

from .helpers import Pipeline

STREAMS = [
    {"name": "projects", "endpoint": "sync/Project/Projects"},
    {"name": "journals", "endpoint": "financial/Journals"},
    {"name": "reporting_balance", "endpoint": "financial/ReportingBalance"},
]


def column_types(pipeline: Pipeline, table: str) -> dict[str, str]:
    rows = pipeline.warehouse.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{pipeline.schema}' AND table_name = '{table}'"
    )
    return {row["column_name"]: row["data_type"] for row in rows}


def test_reference_typed_streams_load_into_typed_columns(pipeline: Pipeline) -> None:
    env = {
        "TAP_EXACT_ONLINE_CUSTOM_STREAMS": json.dumps(STREAMS),
        "TAP_EXACT_ONLINE__SELECT": json.dumps([f"{s['name']}.*" for s in STREAMS]),
    }
    pipeline.run("tap-exact-online", "target-postgres", env=env)

    projects = column_types(pipeline, "projects")
    journals = column_types(pipeline, "journals")
    balances = column_types(pipeline, "reporting_balance")
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
    assert pipeline.rows("reporting_balance", '"ID", "Amount"')
