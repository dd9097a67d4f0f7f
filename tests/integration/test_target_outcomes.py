"""What the real target reports and keeps when a write's fate is known, unknown or final.

``unknown`` only when a POST may have reached Exact without an answer; a POST that never
left, or that Exact confirmed, is a plain failure or ``created``. A deleted key stays
deleted on replay; a dry run passes no STATE on; a missing id is ``not_found``; identical
records are warned about; refused calls stop the run before Exact blocks the app.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

from exact_online_sandbox.server import Sandbox

from .test_target_support import DIVISION, calls, run_target, singer, target_config

DELETED = {"_sdc_deleted_at": "2024-05-01T12:00:00Z"}


def first_id(sandbox: Sandbox, path: str, key: str = "ID") -> str:
    token = sandbox.access_token()
    rows = sandbox.call(token, f"{path}&$top=1&$select={key}" if "?" in path
                        else f"{path}?$top=1&$select={key}").json()["d"]  # bare d
    return str(rows[0][key])


def contact(sandbox: Sandbox, last_name: str) -> dict[str, Any]:
    return {"first_name": "Fate", "last_name": last_name,
            "company_id": first_id(sandbox, "crm/Accounts")}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def ledger_states(path: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT state, exact_id FROM ledger"))


# -- unknown only when the POST may have landed unanswered -----------------------------------


def test_a_failed_token_endpoint_is_a_plain_failure_and_the_next_run_creates_the_record(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    config = target_config(settings, tmp_path)
    text = singer("generic_contact", [contact(sandbox, "Token")])
    sandbox.inject_fault("*/oauth2/token", kind="reset", count=3)
    first = run_target(config, tmp_path, text)
    assert first.returncode == 1
    assert "Traceback" not in first.stderr
    [line] = error_lines(first.stderr)
    assert "token endpoint" in line
    assert [r["outcome"] for r in first.records] == ["failed"]
    assert calls(sandbox, "POST", "crm/Contacts") == 0
    replay = run_target(config, tmp_path, text)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert replay.outcomes() == ["created"]
    assert calls(sandbox, "POST", "crm/Contacts") == 1


def test_a_read_before_the_post_that_failed_is_a_plain_failure_retried_next_run(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    draft = first_id(sandbox, "salesinvoice/SalesInvoices?$filter=Status eq 10", "InvoiceID")
    item = first_id(sandbox, "logistics/Items")
    config = target_config(settings, tmp_path, max_retries=0)
    sandbox.inject_fault("*/salesinvoice/SalesInvoices*", method="GET", kind="status",
                         status=503)
    text = singer("accounting_invoice_line_item", [
        {"invoice_id": draft, "item_id": item, "quantity": 1, "price_per_unit": 5.0,
         "description": "Read first"}])
    first = run_target(config, tmp_path, text)
    assert first.returncode == 1
    [result] = first.records
    assert result["outcome"] == "failed", result
    assert calls(sandbox, "POST", "salesinvoice/SalesInvoiceLines") == 0
    replay = run_target(config, tmp_path, text)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert replay.outcomes() == ["created"]
    assert calls(sandbox, "POST", "salesinvoice/SalesInvoiceLines") == 1


def test_a_post_to_a_host_that_refuses_connections_is_a_plain_failure(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    text = singer("generic_contact", [contact(sandbox, "Refused")])
    warm = run_target(target_config(settings, tmp_path), tmp_path,
                      singer("generic_contact", [contact(sandbox, "Warm up")]))
    assert warm.returncode == 0, warm.stderr[-3000:]  # the store now has an access token
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = target_config({**settings, "base_url": f"http://127.0.0.1:{closed}"}, tmp_path,
                         max_retries=0)
    first = run_target(down, tmp_path, text)
    assert first.returncode == 1
    assert [r["outcome"] for r in first.records] == ["failed"], first.records
    replay = run_target(target_config(settings, tmp_path), tmp_path, text)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert replay.outcomes() == ["created"]


def test_a_create_whose_read_back_failed_keeps_its_id_and_is_not_sent_again(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    account, item = first_id(sandbox, "crm/Accounts"), first_id(sandbox, "logistics/Items")
    config = target_config(settings, tmp_path, max_retries=0)
    sandbox.inject_fault("*/salesinvoice/SalesInvoices*", method="GET", kind="status",
                         status=503, count=20)
    text = singer("accounting_invoice", [{
        "customer_company_id": account, "journal": "70", "description": "Read back fails",
        "line_items": [{"item_id": item, "quantity": 1, "price_per_unit": 3.0}]}])
    first = run_target(config, tmp_path, text)
    sandbox.clear_faults()
    [result] = first.records
    assert (result["outcome"], first.returncode) == ("created", 0), result
    assert result["exact_id"]
    assert any("reading it back failed" in w for w in result["warnings"])
    assert ledger_states(tmp_path / "target-exact-online.ledger.sqlite") == [
        ("written", result["exact_id"])]
    replay = run_target(config, tmp_path, text)
    assert replay.outcomes() == ["unchanged"]
    assert calls(sandbox, "POST", "salesinvoice/SalesInvoices") == 1


# -- deletions are final, dry runs pass nothing on -------------------------------------------


def test_replaying_a_create_after_its_delete_brings_nothing_back(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    config = target_config(settings, tmp_path, external_id="ref")
    create = singer("generic_company", [{"ref": "R-1", "name": "Phoenix B.V.",
                                         "code": "PHOENIX"}])
    before = sandbox.row_count("crm/Accounts")
    assert run_target(config, tmp_path, create).outcomes() == ["created"]
    delete = run_target(config, tmp_path, singer("generic_company", [{"ref": "R-1",
                                                                      **DELETED}]))
    assert delete.outcomes() == ["deleted"]
    replay = run_target(config, tmp_path, create)
    assert replay.returncode == 0
    assert replay.outcomes() == ["unchanged"]
    assert "deleted" in replay.records[0]["warnings"][0]
    assert sandbox.row_count("crm/Accounts") == before
    assert calls(sandbox, "POST", "crm/Accounts") == 1


def test_a_dry_run_passes_no_state_on(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    config = target_config(settings, tmp_path, dry_run=True)
    text = singer("generic_company", [{"name": "Dry B.V.", "code": "DRYSTATE"}],
                  state={"bookmarks": {"generic_company": {"n": 1}}})
    run = run_target(config, tmp_path, text)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.outcomes() == ["created"]
    assert run.stdout == ""
    assert "STATE is not passed on" in run.stderr


# -- messages --------------------------------------------------------------------------------


def test_a_delete_of_an_id_exact_does_not_have_is_not_found(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    missing = "0f0e0d0c-0000-4000-8000-00000000abcd"
    run = run_target(target_config(settings, tmp_path), tmp_path, singer(
        "generic_company", [{"id": missing, "division": DIVISION, **DELETED}],
        state={"done": 1}))
    assert run.returncode == 0, run.stderr[-3000:]
    [result] = run.records
    assert result["outcome"] == "not_found"
    assert "not found" in result["warnings"][0] and missing in result["warnings"][0]
    assert run.summary["generic_company"]["not_found"] == 1
    assert run.states == [{"done": 1}]


def test_identical_records_without_external_id_are_written_once_with_a_warning(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    twin = {"name": "Twin B.V.", "code": "TWIN1"}
    run = run_target(target_config(settings, tmp_path), tmp_path,
                     singer("generic_company", [twin, {"name": "Other", "code": "OTH1"}, twin]))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.outcomes() == ["created", "created", "unchanged"]
    warning = run.records[2]["warnings"][0]
    assert "identical to an earlier record of this input (line 2)" in warning
    assert "external_id" in warning
    assert "identical to an earlier record" in run.stderr
    assert calls(sandbox, "POST", "crm/Accounts") == 2


# -- the error-rate guard --------------------------------------------------------------------


def test_refused_calls_stop_the_run_before_exact_blocks_the_app_and_the_next_run_too(
    sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path
) -> None:
    config = target_config(settings, tmp_path, error_limit=3)
    sandbox.inject_fault("*/crm/Accounts", method="POST", kind="status", status=400,
                         message="Mandatory: something", count=100)
    text = singer("generic_company", [{"name": f"Refused {i}", "code": f"REF{i}"}
                                      for i in range(6)], state={"done": 6})
    first = run_target(config, tmp_path, text)
    assert first.returncode == 1
    assert "Traceback" not in first.stderr
    [line] = error_lines(first.stderr)
    for needle in ("blocks this app", "crm/Accounts", str(DIVISION), "error_limit", "UTC"):
        assert needle in line, (needle, line)
    assert [r["outcome"] for r in first.records] == ["failed"] * 3
    assert calls(sandbox, "POST", "crm/Accounts") == 3
    assert first.stdout == ""

    again = run_target(config, tmp_path, text)
    assert again.returncode == 1
    assert calls(sandbox, "POST", "crm/Accounts") == 3, "nothing sent within the hour"
    assert "not sent" in again.records[0]["error"]
    results = [json.loads(x) for x in Path(config["results_path"]).read_text().splitlines()]
    assert [r["stream"] for r in results if r["type"] == "summary"] == ["generic_company"] * 2
