"""`exact-online proxy` against the sandbox: paging, writes, and refusals that send nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from exact_online_cli import main
from exact_online_sandbox.server import Sandbox


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err


@pytest.fixture
def evil_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback server standing in for a foreign host; it records what reached it."""
    seen: list[str] = []

    def app(environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        seen.append(f"{request.method} {request.path} {request.headers.get('Authorization')}")
        return Response("{}", mimetype="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    thread.join()


def test_proxy_get_with_all_follows_every_page(
    sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, rows, _ = run(capsys, "proxy", "GET", "crm/Contacts", "--all", "--division",
                          "100001", "--config", config_file)
    assert status == 0
    assert len(rows) == sandbox.row_count("crm/Contacts", 100001) > 60  # more than one page
    assert len({row["ID"] for row in rows}) == len(rows)
    assert "__metadata" not in rows[0]


def test_proxy_get_without_all_prints_exacts_first_page(
    config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, body, _ = run(capsys, "proxy", "GET", "crm/Contacts", "--config", config_file)
    assert status == 0
    assert len(body["d"]["results"]) == 60 and "__next" in body["d"]


def test_proxy_accepts_a_full_api_path_with_division_and_filter(
    sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, rows, _ = run(capsys, "proxy", "GET", "/api/v1/100002/sync/CRM/Accounts?"
                          "$filter=Timestamp gt 1L&$select=ID,Name", "--all",
                          "--config", config_file)
    assert status == 0
    assert len(rows) == sandbox.row_count("crm/Accounts", 100002)


def test_proxy_post_and_delete_write_through(
    sandbox: Sandbox, config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sandbox.row_count("crm/Accounts")
    status, body, _ = run(capsys, "proxy", "POST", "crm/Accounts", "--data",
                          '{"Name": "Proxy BV"}', "--config", config_file)
    assert status == 0 and sandbox.row_count("crm/Accounts") == before + 1
    account_id = body["d"]["ID"]
    status, _, _ = run(capsys, "proxy", "DELETE", f"crm/Accounts(guid'{account_id}')",
                       "--config", config_file)
    assert status == 0 and sandbox.row_count("crm/Accounts") == before


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/api/v1/100001/crm/Accounts",
        "{evil}/api/v1/100001/crm/Accounts",
        "/api/v1/100001/../../oauth2/token",
        "crm/%2e%2e/%2e%2e/%2e%2e/oauth2/token",
        "/api/oauth2/token",
    ],
)
def test_proxy_refuses_other_hosts_and_paths_without_sending_anything(
    path: str, sandbox: Sandbox, config_file: str, evil_server: tuple[str, list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    evil_url, seen = evil_server
    sandbox.clear_calls()
    status, out, err = run(capsys, "proxy", "GET", path.format(evil=evil_url),
                           "--config", config_file)
    assert status == 1 and out is None
    assert err.startswith("error: ") and "refused" in err
    assert seen == []
    assert sandbox.calls()["total"] == 0  # not even a token refresh


def test_proxy_reports_exact_errors_without_a_traceback(
    config_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "proxy", "GET", "crm/Accounts", "--division", "100003",
                         "--config", config_file)
    assert status == 1
    assert err.startswith("error: GET crm/Accounts (division 100003)") and "403" in err
