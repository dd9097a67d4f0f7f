"""One job per division, run in parallel: separate state, one shared token store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .helpers import RUN_TIMEOUT, Exact, Pipeline, only

TOKEN_CALL = "POST oauth2/token"


def run_together(pipeline: Pipeline, *commands: tuple[str, ...],
                 envs: tuple[dict[str, str], ...] = ()) -> None:
    processes = [
        pipeline.start(*command, env=envs[i] if envs else None)
        for i, command in enumerate(commands)
    ]
    for command, process in zip(commands, processes, strict=True):
        try:
            _, stderr = process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, f"meltano {' '.join(command)}:\n{stderr[-6000:]}"


def prepare(pipeline: Pipeline, tmp_path: Path) -> None:
    """What a deployment does once before starting jobs in parallel: create the system
    database (two first-ever meltano processes would race to migrate it) and the tables (two
    first-ever targets would race to create them: DuplicateTable). The priming load uses a
    token store of its own, so the jobs still start from an empty shared store."""
    done = pipeline.meltano("state", "list")
    assert done.returncode == 0, done.stderr[-4000:]
    pipeline.run("--no-state-update", "tap-exact-online", "target-postgres", env={
        "TAP_EXACT_ONLINE_DIVISIONS": "[100001]",
        "TAP_EXACT_ONLINE_TOKEN_STORE": str(tmp_path / "priming-tokens.json"),
        "TAP_EXACT_ONLINE_REFRESH_TOKEN": pipeline.sandbox.mint_refresh_token(),
    })


def token_statuses(pipeline: Pipeline) -> dict[str, int]:
    calls = pipeline.sandbox.calls()
    return dict(calls.get("by_endpoint_status", {}).get(TOKEN_CALL, {}))


@pytest.mark.slow
def test_division_jobs_in_parallel_share_one_token_store_without_token_errors(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    sandbox = pipeline.sandbox
    pipeline.env.update(only("generic_company", "accounting_invoice_line_item"))
    jobs = (("run", "exact-to-postgres-division-100001"),
            ("run", "exact-to-postgres-division-100002"))
    prepare(pipeline, tmp_path)
    sandbox.clear_calls()

    # Round 1: an empty token store, both jobs seed it from the one single-use refresh token.
    run_together(pipeline, *jobs)
    # Round 2: the access token has expired; both jobs need a refresh at the same moment.
    sandbox.advance_clock(700)
    run_together(pipeline, *jobs)

    statuses = token_statuses(pipeline)
    assert set(statuses) == {"200"}, f"token endpoint answered {statuses}"
    assert statuses["200"] == 2  # one seed, one refresh after expiry: the other job reused it
    exact = Exact(sandbox)
    assert pipeline.keys("generic_company") == exact.keys("crm/Accounts")
    assert pipeline.keys("accounting_invoice_line_item") == exact.keys(
        "salesinvoice/SalesInvoiceLines"
    )
    states = pipeline.meltano("state", "list").stdout.split()
    assert "dev:tap-exact-online--division-100001-to-target-postgres" in states
    assert "dev:tap-exact-online--division-100002-to-target-postgres" in states


def test_state_id_suffix_keeps_one_state_per_division_set_by_environment(
    pipeline: Pipeline,
) -> None:
    # One after the other: the same plugin name run twice at once shares Meltano's catalog
    # cache file (.meltano/run/tap-exact-online/), which the two processes would race on;
    # parallel jobs use the inherited per-division extractors instead (test above).
    loaded: set[int] = set()
    pipeline.env.update(only("generic_company", "generic_contact"))
    for division in (100001, 100002):
        pipeline.run(f"--state-id-suffix=division-{division}", "tap-exact-online",
                     "target-postgres", env={"TAP_EXACT_ONLINE_DIVISIONS": f"[{division}]"})
        loaded.add(division)
        rows = pipeline.rows("generic_company", "DISTINCT division")
        assert {row["division"] for row in rows} == loaded

    exact = Exact(pipeline.sandbox)
    assert pipeline.keys("generic_contact") == exact.keys("crm/Contacts")
    states = pipeline.meltano("state", "list").stdout.split()
    for division in (100001, 100002):
        assert f"dev:tap-exact-online-to-target-postgres:division-{division}" in states
    assert "dev:tap-exact-online-to-target-postgres" not in states
