"""Bad CLI inputs end in one `error:` line naming what and where, exit 1, never a traceback.

Nothing here reaches a server: every input is refused before a request (the base URL is a
closed port, so a request would fail differently).
"""

from __future__ import annotations

import io
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from exact_online_cli import main

DEEP = "[" * 100_000 + "]" * 100_000


def write_config(tmp_path: Path, **overrides: Any) -> str:
    settings = {
        "base_url": "http://127.0.0.1:9",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "refresh_token": "rt-configured",
        "token_store": str(tmp_path / "tokens.json"),
        "divisions": [100001],
        **overrides,
    }
    path = tmp_path / "exact.json"
    path.write_text(json.dumps(settings, allow_nan=True))
    return str(path)


def one_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI in process; assert exit 1 and exactly one `error:` line; return it."""
    status = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 1, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_max_retries_that_is_not_a_finite_number_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: float
) -> None:
    config = write_config(tmp_path, max_retries=value)
    line = one_error(capsys, ["proxy", "GET", "current/Me", "--config", config])
    assert "max_retries" in line and "finite" in line


def test_a_fractional_max_retries_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, max_retries=2.5)
    line = one_error(capsys, ["proxy", "GET", "current/Me", "--config", config])
    assert "max_retries" in line and "whole number" in line


def test_a_timeout_that_is_not_finite_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, timeout=float("inf"))
    assert "timeout" in one_error(capsys, ["proxy", "GET", "current/Me", "--config", config])


def test_a_token_store_holding_a_json_array_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    (tmp_path / "tokens.json").write_text("[]")
    line = one_error(capsys, ["proxy", "GET", "current/Me", "--config", config])
    assert str(tmp_path / "tokens.json") in line and "not a valid token file" in line


def test_a_token_store_path_under_a_file_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain-file").write_text("x")
    config = write_config(tmp_path, token_store=str(tmp_path / "plain-file" / "tokens.json"))
    line = one_error(capsys, ["proxy", "GET", "current/Me", "--config", config])
    assert "token_store" in line and "plain-file" in line


@pytest.mark.parametrize(
    "argv",
    [["proxy", "POST", "crm/Accounts"], ["records", "generic_company", "create"]],
)
def test_deeply_nested_data_is_refused_naming_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    config = write_config(tmp_path)
    line = one_error(capsys, [*argv, "--data", DEEP, "--config", config])
    assert "--data" in line and "nested" in line


def test_deeply_nested_data_from_a_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "deep.json"
    data.write_text(DEEP)
    line = one_error(capsys, ["proxy", "POST", "crm/Accounts", "--data", f"@{data}",
                              "--config", config])
    assert str(data) in line and "nested" in line


def test_a_deeply_nested_config_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep-config.json"
    path.write_text('{"a": ' + DEEP + "}")
    line = one_error(capsys, ["check", "--config", str(path)])
    assert "--config" in line and str(path) in line


@pytest.mark.parametrize("since", ["notadate", "2024-13-45", "12.5", "yesterday", "-3"])
def test_records_list_refuses_a_since_that_is_neither_a_timestamp_nor_a_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], since: str
) -> None:
    config = write_config(tmp_path)
    line = one_error(capsys, ["records", "generic_company", "list", "--since", since,
                              "--config", config])
    assert "--since" in line and repr(since) in line and "RFC 3339" in line


def test_records_list_refuses_a_date_for_a_model_bookmarked_by_timestamp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    line = one_error(capsys, ["records", "generic_company", "list", "--since",
                              "2024-01-01T00:00:00Z", "--config", config])
    assert "--since" in line and "Timestamp" in line and "--filter" in line


@pytest.mark.parametrize("value", [{"a": None}, "agent \u0100", "line\nbreak", 5])
def test_a_user_agent_that_cannot_be_a_header_names_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: Any
) -> None:
    config = write_config(tmp_path, user_agent=value)
    assert "user_agent" in one_error(capsys, ["proxy", "GET", "current/Me", "--config", config])


def test_webhooks_serve_with_a_log_under_a_file_names_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain-file").write_text("x")
    config = write_config(tmp_path, webhook_secret="s")
    line = one_error(capsys, ["webhooks", "serve", "--port", "0", "--no-fetch", "--log",
                              str(tmp_path / "plain-file" / "events.jsonl"), "--config", config])
    assert "--log" in line and "plain-file is a file" in line


def test_webhooks_serve_on_an_address_it_cannot_listen_on_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, webhook_secret="s")
    line = one_error(capsys, ["webhooks", "serve", "--host", "256.1.1.1", "--port", "0",
                              "--no-fetch", "--log", str(tmp_path / "e.jsonl"), "--config",
                              config])
    assert "cannot listen on 256.1.1.1:0" in line


@pytest.mark.parametrize(("option", "value"), [("--port", "99999"), ("--port", "-1"),
                                               ("--workers", "0"), ("--read-timeout", "nan")])
def test_webhooks_serve_refuses_out_of_range_options_as_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    config = write_config(tmp_path, webhook_secret="s")
    argv = ["webhooks", "serve", "--port", "0", "--no-fetch", "--log", str(tmp_path / "e.jsonl"),
            "--config", config, option, value]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_login_when_the_redirect_port_is_taken_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, redirect_uri=f"http://127.0.0.1:{port}/callback")
        status = main(["login", "--no-browser", "--timeout", "1", "--config", config])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: Cannot listen on 127.0.0.1:{port} for the redirect (Address already in use); "
        "stop what uses that port, or run `exact-online login --paste`."]


def strict_utf8_run(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The CLI in process with stdout/stderr that refuse what UTF-8 cannot encode (a lone
    surrogate, as an undecodable byte of argv becomes); the exit status and stderr."""
    err_bytes = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8",
                                                        errors="strict", write_through=True))
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(err_bytes, encoding="utf-8",
                                                        errors="strict", write_through=True))
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    return status, err_bytes.getvalue().decode("utf-8")


def test_an_argument_with_a_lone_surrogate_is_a_usage_error_that_shows_it_escaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, stderr = strict_utf8_run(["check", "\udcff"], monkeypatch)
    assert status == 2
    assert "usage:" in stderr and "\\udcff" in stderr


def test_an_error_line_quoting_a_lone_surrogate_is_printed_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, token_store=str(tmp_path / "file") + "/\udcff")
    (tmp_path / "file").write_text("")
    status, stderr = strict_utf8_run(["proxy", "GET", "current/Me", "--config", config],
                                     monkeypatch)
    assert status == 1
    assert stderr.startswith("error: ") and "\\udcff" in stderr, stderr
