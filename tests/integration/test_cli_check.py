"""`exact-online check` against the sandbox: readable models, missing scopes, write checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exact_online_cli import main
from exact_online_sandbox.server import Sandbox

READER = "sandbox-crm-reader"  # scopes: crm.accounts:read only


def write_config(tmp_path: Path, settings: dict[str, Any]) -> str:
    path = tmp_path / f"exact-{settings['client_id']}.json"
    path.write_text(json.dumps(settings))
    return str(path)


@pytest.fixture
def full_app(settings: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("CONFIG", "CLIENT_ID", "BASE_URL", "DIVISIONS", "REFRESH_TOKEN"):
        monkeypatch.delenv(f"EXACT_ONLINE_{name}", raising=False)
    return write_config(tmp_path, settings)


@pytest.fixture
def crm_reader(sandbox: Sandbox, settings: dict[str, Any], tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("CONFIG", "CLIENT_ID", "BASE_URL", "DIVISIONS", "REFRESH_TOKEN"):
        monkeypatch.delenv(f"EXACT_ONLINE_{name}", raising=False)
    return write_config(tmp_path, {
        **settings, "client_id": READER, "refresh_token": sandbox.mint_refresh_token(READER),
        "token_store": str(tmp_path / "reader-tokens.json"), "divisions": [100001],
    })


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_check_reports_the_crm_readers_missing_logistics_items_scope_and_exits_1(
    crm_reader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "check", "--json", "--config", crm_reader)
    assert status == 1
    rows = {row["model"]: row for row in json.loads(out)}
    assert rows["generic_company"]["allowed"] is True
    items = rows["accounting_invoice_item"]
    assert (items["allowed"], items["scope"], items["division"]) == (False, "logistics.items",
                                                                    100001)
    assert "Scope" in items["message"] and "logistics.items" in items["message"]
    assert "logistics.items" in err


def test_check_table_for_an_app_with_every_scope_exits_0(
    full_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "check", "--config", full_app)
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split()[:4] == ["MODEL", "DIVISION", "OPERATION", "ALLOWED"]
    assert len(lines) == 1 + 7 * 2  # seven models in two divisions
    assert all(" yes " in line for line in lines[1:])


def test_check_write_creates_and_deletes_drafts(
    sandbox: Sandbox, full_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    entities = ("crm/Accounts", "crm/Contacts", "logistics/Items", "salesinvoice/SalesInvoices")
    before = {e: sandbox.row_count(e, 100002) for e in entities}
    status, out, _ = run(capsys, "check", "--division", "100002", "--write", "100002",
                         "--json", "--config", full_app)
    writes = [row for row in json.loads(out) if row["operation"] != "read"]
    assert status == 0, writes
    assert {row["model"] for row in writes} == {
        "generic_company", "generic_contact", "accounting_invoice_item", "accounting_invoice"}
    assert {e: sandbox.row_count(e, 100002) for e in entities} == before


def test_check_write_without_manage_scope_names_the_scope(
    crm_reader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "check", "--write", "100001", "--json", "--config", crm_reader)
    writes = {row["model"]: row for row in json.loads(out) if row["operation"] == "write"}
    assert status == 1
    assert writes["generic_company"]["allowed"] is False
    assert writes["generic_company"]["scope"] == "crm.accounts:manage"
