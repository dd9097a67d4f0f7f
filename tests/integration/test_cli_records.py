"""`exact-online records` against the sandbox: unified JSON in and out."""

from __future__ import annotations

import io
import json

import pytest

from exact_online_cli import main
from exact_online_sandbox.server import Sandbox

from .helpers import exact_keys


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_records_create_get_update_delete_round_trip(
    sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sandbox.row_count("crm/Accounts", 100002)
    common = ("--division", "100002", "--config", config_file)
    status, out, err = run(capsys, "records", "generic_company", "create", "--data",
                           '{"name": "Round Trip BV", "code": "RT1", "email": "rt@example.com"}',
                           *common)
    assert status == 0, err
    created = json.loads(out)
    assert (created["name"], created["code"], created["division"]) == ("Round Trip BV", "RT1",
                                                                      100002)
    assert sandbox.row_count("crm/Accounts", 100002) == before + 1

    status, out, _ = run(capsys, "records", "generic_company", "get", created["id"], *common)
    assert status == 0 and json.loads(out)["email"] == "rt@example.com"

    status, out, _ = run(capsys, "records", "generic_company", "update", created["id"],
                         "--data", '{"email": "new@example.com"}', *common)
    assert status == 0
    updated = json.loads(out)
    assert (updated["email"], updated["name"]) == ("new@example.com", "Round Trip BV")

    status, out, _ = run(capsys, "records", "generic_company", "delete", created["id"], *common)
    assert status == 0 and json.loads(out)["deleted"] is True
    assert sandbox.row_count("crm/Accounts", 100002) == before

    status, out, err = run(capsys, "records", "generic_company", "get", created["id"], *common)
    assert status == 1 and out == "" and err.startswith("error:") and "404" in err


def test_records_create_reads_the_record_from_stdin(
    sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"name": "Stdin BV"}'))
    status, out, _ = run(capsys, "records", "generic_company", "create", "--division",
                         "100001", "--config", config_file)
    assert status == 0 and json.loads(out)["name"] == "Stdin BV"


def test_records_list_prints_json_lines_up_to_the_limit_across_divisions(
    config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "records", "generic_company", "list", "--limit", "3",
                         "--config", config_file)
    assert status == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3 and all(r["division"] == 100001 for r in records)


def test_records_list_without_a_division_lists_every_configured_division_in_full(
    sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "records", "generic_company", "list", "--array",
                         "--config", config_file)
    assert status == 0
    listed = [(r["division"], r["id"]) for r in json.loads(out)]
    assert len(listed) == len(set(listed))
    assert set(listed) == exact_keys(sandbox, "crm/Accounts", "ID")
    first = sandbox.row_count("crm/Accounts", 100001)
    status, out, _ = run(capsys, "records", "generic_company", "list", "--limit",
                         str(first + 2), "--config", config_file)
    spilled = [json.loads(line)["division"] for line in out.splitlines()]
    assert spilled.count(100001) == first and spilled.count(100002) == 2


def test_records_list_filter_and_array(
    sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "records", "generic_company", "list", "--division", "100002",
                         "--array", "--config", config_file)
    every = json.loads(out)
    assert status == 0 and len(every) == sandbox.row_count("crm/Accounts", 100002)
    name = every[0]["name"].replace("'", "''")
    status, out, _ = run(capsys, "records", "generic_company", "list", "--division", "100002",
                         "--filter", f"Name eq '{name}'", "--array", "--config", config_file)
    assert status == 0
    assert {r["id"] for r in json.loads(out)} >= {every[0]["id"]}
    assert all(r["name"] == every[0]["name"] for r in json.loads(out))


def test_records_list_since_a_timestamp_returns_only_newer_rows(
    config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "records", "generic_company", "list", "--division", "100001",
                    "--array", "--config", config_file)
    every = json.loads(out)
    middle = sorted(r["exact_timestamp"] for r in every)[len(every) // 2]
    _, out, _ = run(capsys, "records", "generic_company", "list", "--division", "100001",
                    "--since", str(middle), "--array", "--config", config_file)
    newer = json.loads(out)
    assert newer and all(r["exact_timestamp"] > middle for r in newer)
    assert len(newer) < len(every)


def test_records_list_since_a_date_with_a_filter_returns_only_newer_rows(
    config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("--division", "100001", "--filter", "Status eq 'C'", "--array",
              "--config", config_file)
    _, out, _ = run(capsys, "records", "generic_company", "list", *common)
    every = json.loads(out)
    middle = sorted(r["updated_at"] for r in every)[len(every) // 2]
    status, out, err = run(capsys, "records", "generic_company", "list", "--since", middle,
                           *common)
    assert status == 0, err
    newer = json.loads(out)
    assert newer and all(r["updated_at"] >= middle for r in newer)
    assert len(newer) < len(every)


@pytest.mark.parametrize("model", ["generic_user", "generic_workspace"])
def test_records_refuses_writes_for_read_only_models_before_any_call(
    model: str, sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.clear_calls()
    status, out, err = run(capsys, "records", model, "create", "--data", '{"name": "x"}',
                           "--division", "100001", "--config", config_file)
    assert status == 1 and out == ""
    assert err.startswith("error:") and model in err
    assert not any(key.startswith(("POST", "PUT", "DELETE")) and "oauth2" not in key
                   for key in sandbox.calls()["by_endpoint"])


def test_records_single_record_commands_need_a_division_when_several_are_configured(
    config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "records", "generic_company", "get",
                         "5d4a3b2c-0000-4000-8000-000000000001", "--config", config_file)
    assert status == 1 and "--division" in err


def test_records_unknown_model_is_a_clear_error(
    config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "records", "generic_thing", "list", "--config", config_file)
    assert status == 1 and "generic_thing" in err and "Traceback" not in err


def test_a_duplicate_code_error_names_the_code_unmasked(
    sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("--division", "100001", "--config", config_file)
    data = '{"name": "Twice BV", "code": "TWICE1"}'
    assert run(capsys, "records", "generic_company", "create", "--data", data, *common)[0] == 0
    status, out, err = run(capsys, "records", "generic_company", "create", "--data", data, *common)
    assert (status, out) == (1, "")
    assert "Code already exists: TWICE1" in err and "****" not in err
