"""`exact-online login` end to end against the sandbox, as a subprocess with no person."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from exact_online_cli import main
from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.http import ExactClient
from exact_online_sandbox.oauth import SCOPE_CATALOGUE
from exact_online_sandbox.server import Sandbox

CLIENT_ID = "cli-login-client"
USER_EMAIL = "sandbox.user@example.com"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def login_settings(sandbox: Sandbox, tmp_path: Path) -> dict[str, Any]:
    """An app of our own whose loopback redirect URI is on a free port (no refresh token)."""
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    sandbox.register_app(CLIENT_ID, [f"{scope}:manage" for scope in SCOPE_CATALOGUE],
                         redirect_uri=redirect_uri)
    settings = {
        "base_url": sandbox.base_url,
        "client_id": CLIENT_ID,
        "client_secret": sandbox.client_secret,
        "redirect_uri": redirect_uri,
        "token_store": str(tmp_path / "store" / "tokens.json"),
        "divisions": [100001, 100002],
    }
    (tmp_path / "exact.json").write_text(json.dumps(settings))
    return settings


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "exact_online_cli", *args]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXACT_ONLINE_")}


def assert_logged_in(settings: dict[str, Any], stdout: str) -> None:
    store = Path(settings["token_store"])
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert USER_EMAIL in stdout
    assert "100002" in stdout  # reachable divisions are listed
    tokens = json.loads(store.read_text())
    assert tokens["access_token"] not in stdout and tokens["refresh_token"] not in stdout


def test_login_auto_consent_as_subprocess_writes_a_0600_store_and_prints_the_user(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = login_settings(sandbox, tmp_path)
    done = subprocess.run(
        cli("login", "--config", str(tmp_path / "exact.json"), "--auto-consent"),
        capture_output=True, text=True, timeout=120, env=clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert_logged_in(settings, done.stdout + done.stderr)


def test_token_store_written_by_login_is_used_by_the_core_without_a_refresh_token(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = login_settings(sandbox, tmp_path)
    subprocess.run(cli("login", "--config", str(tmp_path / "exact.json"), "--auto-consent"),
                   check=True, capture_output=True, timeout=120, env=clean_env())
    config = ExactConfig.from_mapping(settings)
    with ExactClient(config, broker_from_config(config)) as client:
        rows = list(client.iter_rows("crm/Accounts", division=100002))
    assert len(rows) == sandbox.row_count("crm/Accounts", 100002)


def test_a_refresh_token_left_in_the_config_never_replaces_a_newer_login(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = login_settings(sandbox, tmp_path)
    old = sandbox.mint_refresh_token(CLIENT_ID)
    assert sandbox.token_request(client_id=CLIENT_ID, grant_type="refresh_token",
                                 refresh_token=old).status_code == 200  # used up: rotated
    subprocess.run(cli("login", "--config", str(tmp_path / "exact.json"), "--auto-consent"),
                   check=True, capture_output=True, timeout=120, env=clean_env())
    (tmp_path / "exact.json").write_text(json.dumps({**settings, "refresh_token": old}))
    sandbox.clear_calls()
    done = subprocess.run(cli("proxy", "GET", "current/Me", "--config",
                              str(tmp_path / "exact.json")),
                          capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 0, done.stderr
    sandbox.advance_clock(600)  # the next run must refresh: with the login's token
    done = subprocess.run(cli("proxy", "GET", "current/Me", "--config",
                              str(tmp_path / "exact.json")),
                          capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert sandbox.calls()["by_endpoint_status"]["POST oauth2/token"] == {"200": 1}


def test_login_listener_receives_the_browser_redirect(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = login_settings(sandbox, tmp_path)
    with subprocess.Popen(
        cli("login", "--config", str(tmp_path / "exact.json"), "--no-browser"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    ) as proc:
        assert proc.stderr is not None
        consent_url = _consent_url(proc.stderr)
        page = requests.get(consent_url, timeout=30)  # the "browser" follows the 302
        assert page.status_code == 200 and "login received" in page.text
        stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert_logged_in(settings, stdout)


def test_login_paste_accepts_the_redirected_url_on_stdin(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = login_settings(sandbox, tmp_path)
    with subprocess.Popen(
        cli("login", "--config", str(tmp_path / "exact.json"), "--paste", "--no-browser"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_env(),
    ) as proc:
        assert proc.stderr is not None
        consent = requests.get(_consent_url(proc.stderr), allow_redirects=False, timeout=30)
        stdout, _ = proc.communicate(consent.headers["Location"] + "\n", timeout=60)
    assert proc.returncode == 0
    assert_logged_in(settings, stdout)


def test_login_refuses_a_redirect_with_a_foreign_state(sandbox: Sandbox, tmp_path: Path) -> None:
    login_settings(sandbox, tmp_path)
    with subprocess.Popen(
        cli("login", "--config", str(tmp_path / "exact.json"), "--paste", "--no-browser"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=clean_env(),
    ) as proc:
        assert proc.stderr is not None
        consent = requests.get(_consent_url(proc.stderr), allow_redirects=False, timeout=30)
        forged = consent.headers["Location"].replace("state=", "state=x")
        _, stderr = proc.communicate(forged + "\n", timeout=60)
    assert proc.returncode == 1
    assert "error:" in stderr and "state" in stderr and "Traceback" not in stderr


def _consent_url(stream: Any) -> str:
    for line in stream:
        if "/api/oauth2/auth?" in line:
            return str(line.strip())
    raise AssertionError("login printed no consent URL")


def test_tap_reads_with_the_token_store_that_login_wrote(
    sandbox: Sandbox, tmp_path: Path, run_tap: Callable[..., Any]
) -> None:
    settings = login_settings(sandbox, tmp_path)
    subprocess.run(cli("login", "--config", str(tmp_path / "exact.json"), "--auto-consent"),
                   check=True, capture_output=True, timeout=120, env=clean_env())
    assert "refresh_token" not in settings  # only the store holds the login
    run = run_tap(tmp_path / "exact.json")
    assert run.returncode == 0, run.stderr[-2000:]
    companies = {(r["division"], r["id"]) for r in run.records("generic_company")
                 if r.get("_sdc_deleted_at") is None}
    assert len(companies) == sandbox.row_count("crm/Accounts", 100001) + sandbox.row_count(
        "crm/Accounts", 100002)


def test_login_auto_consent_fails_clearly_when_a_person_must_sign_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = Response("<html>Sign in to Exact Online</html>", mimetype="text/html")
    server = make_server("127.0.0.1", 0, page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = tmp_path / "exact.json"
        config.write_text(json.dumps({
            "base_url": f"http://127.0.0.1:{server.server_port}", "client_id": "my-app",
            "client_secret": "s3cret", "redirect_uri": "https://example.com/callback",
            "token_store": str(tmp_path / "tokens.json")}))
        status = main(["login", "--config", str(config), "--auto-consent"])
    finally:
        server.shutdown()
        thread.join()
    err = capsys.readouterr().err
    assert status == 1 and "needs a person to sign in" in err and "s3cret" not in err
    assert not (tmp_path / "tokens.json").exists()
