"""The scheduled incremental warehouse sync: the schedule's job run again and again."""

from __future__ import annotations

import json

import pytest

from .helpers import Exact, Pipeline, only

SCHEDULE = "exact-to-postgres-hourly"
STATE_ID = "dev:tap-exact-online-to-target-postgres"


@pytest.mark.slow
def test_schedule_run_three_times_with_changes_between_leaves_no_duplicates(
    pipeline: Pipeline,
) -> None:
    pipeline.env.update(only("generic_company", "generic_contact", "accounting_invoice",
                             "accounting_invoice_line_item"))
    exact = Exact(pipeline.sandbox)
    created: list[str] = []
    renamed: dict[str, str] = {}
    deleted: list[str] = []
    for run in range(3):
        done = pipeline.meltano("schedule", "run", SCHEDULE)
        assert done.returncode == 0, done.stderr[-6000:]
        for table in ("generic_company", "generic_contact", "accounting_invoice",
                      "accounting_invoice_line_item"):
            keys = pipeline.keys(table)
            assert len(keys) == len(set(keys)), f"duplicates in {table} after run {run + 1}"
        assert pipeline.keys("generic_company") == exact.keys("crm/Accounts")
        assert pipeline.keys("generic_contact", "_sdc_deleted_at IS NULL") == exact.keys(
            "crm/Contacts"
        )
        names = {row["id"]: row["name"] for row in pipeline.rows("generic_company", "id, name")}
        assert all(names[i] == name for i, name in renamed.items())
        contacts = {row["id"] for row in pipeline.rows("generic_contact", "division, id")}
        assert set(created) <= contacts
        # Changes in Exact before the next run.
        created.append(exact.create_contact(100001, f"Run{run}", f"run{run}@example.com"))
        renamed.update(exact.rename_accounts(100002, 1, f"(run {run})"))
        deleted += exact.delete_contacts(100001, 1)

    state = pipeline.meltano("state", "get", STATE_ID)
    assert state.returncode == 0, state.stderr
    assert json.loads(state.stdout)["singer_state"]["bookmarks"]
