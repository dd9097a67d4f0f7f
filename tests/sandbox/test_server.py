"""The Sandbox runner: thread mode, process mode, kill/restart persistence, the CLI's logging."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from exact_online_sandbox.__main__ import build_parser
from exact_online_sandbox.server import Sandbox


def test_thread_mode_serves_on_a_free_loopback_port(sandbox: Sandbox) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.base_url)
    assert sandbox.port > 0
    assert sandbox.token_url == f"{sandbox.base_url}/api/oauth2/token"
    assert requests.get(f"{sandbox.base_url}/_sandbox/health", timeout=5).json() == {"ok": True}


def test_stop_closes_the_port() -> None:
    sb = Sandbox(seed=42).start()
    url = f"{sb.base_url}/_sandbox/health"
    sb.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=2)


def test_thread_restart_on_data_dir_keeps_tokens_and_rows(tmp_path: Path) -> None:
    with Sandbox(seed=42, data_dir=tmp_path) as sb:
        tokens = sb.tokens()
        key = sb.call(tokens["access_token"], "crm/Accounts", "POST",
                      json={"Name": "Durable"}).json()["d"]["ID"]
        sb.restart()
        assert sb.call(tokens["access_token"], f"crm/Accounts(guid'{key}')").status_code == 200


def test_cli_parser_accepts_the_documented_serve_options() -> None:
    args = build_parser().parse_args([
        "serve", "--host", "127.0.0.1", "--port", "8765", "--seed", "42",
        "--data-dir", "d", "--scale", "60", "--size", '{"accounts": 10}'])
    assert (args.port, args.seed, args.scale, args.size) == (8765, 42, 60.0, {"accounts": 10})


@pytest.mark.slow
def test_process_kill_and_restart_keeps_apps_tokens_counters_and_clock(tmp_path: Path) -> None:
    with Sandbox(seed=42, process=True, data_dir=tmp_path) as sb:
        sb.register_app("kept-app", ["crm.accounts:read"])
        refresh = sb.mint_refresh_token()
        access = sb.access_token()
        sb.call(access, "crm/Accounts")
        moved = sb.advance_clock(5000)
        port = sb.port
        sb.kill()
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{sb.base_url}/_sandbox/health", timeout=2)
        sb.restart()
        assert sb.port == port
        assert sb.now() >= moved
        assert sb.calls()["by_endpoint"]["GET crm/Accounts"] == 1
        assert sb.token_request(grant_type="refresh_token",
                                refresh_token=refresh).status_code == 200
        assert "kept-app" in {a["client_id"] for a in sb.control.get("/apps")["apps"]}


@pytest.mark.slow
def test_process_log_has_one_line_per_request_and_no_tokens(tmp_path: Path) -> None:
    with Sandbox(seed=42, process=True, data_dir=tmp_path) as sb:
        tokens = sb.tokens()
        sb.call(tokens["access_token"], "current/Me", division=None)
        log = (tmp_path / "sandbox.log").read_text()
    assert "GET /api/v1/current/Me 200" in log
    assert "POST /api/oauth2/token 200" in log
    assert tokens["access_token"] not in log
    assert tokens["refresh_token"] not in log
