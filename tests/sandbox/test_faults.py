"""Injected faults: each kind behaves as documented, as a real requests client sees it."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from exact_online_sandbox import faults
from exact_online_sandbox.server import Sandbox

ACCOUNTS = "*/crm/Accounts*"


def test_status_fault_answers_exact_error_body_then_normal(sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "status", status=503, count=2)
    first = sandbox.call(token, "crm/Accounts")
    second = sandbox.call(token, "crm/Accounts")
    third = sandbox.call(token, "crm/Accounts")
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json() == {"error": {"code": "", "message": {
        "lang": "", "value": "Service Unavailable"}}}


def test_status_500_fault_has_exact_500_message(sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "status", status=500)
    response = sandbox.call(token, "crm/Accounts")
    assert response.json()["error"]["message"]["value"] == "An error has occurred."


def test_fault_matches_only_its_method(sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "status", method="POST", status=500)
    assert sandbox.call(token, "crm/Accounts").status_code == 200
    response = sandbox.call(token, "crm/Accounts", "POST", json={"Name": "X"})
    assert response.status_code == 500


def test_fault_does_not_match_other_paths(sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "status", status=500)
    assert sandbox.call(token, "logistics/Items").status_code == 200
    assert sandbox.call(token, "crm/Accounts").status_code == 500


def test_rate_limit_fault_is_429_with_only_minutely_headers(
        sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "rate_limit")
    response = sandbox.call(token, "crm/Accounts")
    assert response.status_code == 429
    assert response.headers["X-RateLimit-Minutely-Remaining"] == "0"
    assert "X-RateLimit-Remaining" not in response.headers


def test_delay_fault_makes_a_client_timeout_fire(sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "delay", seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        sandbox.call(token, "crm/Accounts", timeout=0.3)
    assert sandbox.call(token, "crm/Accounts").status_code == 200


def test_delay_fault_then_answers_normally(sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "delay", seconds=0.2)
    assert sandbox.call(token, "crm/Accounts").status_code == 200


def test_reset_fault_is_a_connection_error_and_server_keeps_serving(
        sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        sandbox.call(token, "crm/Accounts")
    assert sandbox.call(token, "crm/Accounts").status_code == 200


def test_reset_after_fault_executes_the_write_then_drops(sandbox: Sandbox, token: str) -> None:
    before = sandbox.row_count("crm/Accounts")
    sandbox.inject_fault(ACCOUNTS, "reset", method="POST", after=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Lost answer"})
    assert sandbox.row_count("crm/Accounts") == before + 1


@pytest.mark.parametrize("after", [False, True], ids=["reset", "reset-after-processing"])
def test_a_reset_call_is_counted_before_the_client_sees_the_reset(
        sandbox: Sandbox, token: str, monkeypatch: pytest.MonkeyPatch, after: bool) -> None:
    """A client that reads the call log as soon as its connection drops finds the call there."""
    counted_at_reset: list[int] = []
    abort = faults.abort_connection

    def counting_abort(environ: dict[str, Any]) -> None:
        by_endpoint = sandbox.calls()["by_endpoint"]
        counted_at_reset.append(by_endpoint.get("POST crm/Accounts", 0))
        abort(environ)

    monkeypatch.setattr(faults, "abort_connection", counting_abort)
    sandbox.inject_fault(ACCOUNTS, "reset", method="POST", after=after)
    with pytest.raises(requests.exceptions.ConnectionError):
        sandbox.call(token, "crm/Accounts", "POST", json={"Name": "Counted"})
    assert counted_at_reset == [1]


def test_malformed_fault_is_200_with_invalid_json(sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault(ACCOUNTS, "malformed")
    response = sandbox.call(token, "crm/Accounts")
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_truncated_fault_is_200_with_half_the_body(sandbox: Sandbox, token: str) -> None:
    full = sandbox.call(token, "crm/Accounts?$top=5").content
    sandbox.inject_fault(ACCOUNTS, "truncated")
    response = sandbox.call(token, "crm/Accounts?$top=5")
    assert response.status_code == 200
    assert len(response.content) == len(full) // 2
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_faults_never_apply_to_the_control_api(sandbox: Sandbox) -> None:
    sandbox.inject_fault("*", "status", status=500)
    assert sandbox.control.get("/health") == {"ok": True}


def test_faults_apply_to_the_token_endpoint(sandbox: Sandbox) -> None:
    sandbox.inject_fault("*/oauth2/token", "status", status=503)
    response = sandbox.token_request(grant_type="refresh_token",
                                     refresh_token=sandbox.initial_refresh_token)
    assert response.status_code == 503


def test_faults_are_listed_and_cleared(sandbox: Sandbox, token: str) -> None:
    fault_id = sandbox.inject_fault(ACCOUNTS, "status", status=502, count=3)
    listed = sandbox.control.get("/faults")["faults"]
    assert [(f["id"], f["remaining"]) for f in listed] == [(fault_id, 3)]
    sandbox.clear_faults()
    assert sandbox.control.get("/faults")["faults"] == []
    assert sandbox.call(token, "crm/Accounts").status_code == 200


def test_unknown_fault_kind_is_rejected(sandbox: Sandbox) -> None:
    response = sandbox.control.request("POST", "/faults", json={"path": "*", "kind": "boom"})
    assert response.status_code == 400
