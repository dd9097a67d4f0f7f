"""Exact's error block against the running sandbox: more than 10 refused calls an hour block."""

from __future__ import annotations

import requests

from exact_online_sandbox.server import Sandbox

BAD = "crm/Accounts?$select=NoSuchProperty"  # 400: the property does not exist
GOOD = "crm/Accounts?$select=ID&$top=1"
MISSING = "crm/Accounts(guid'00000000-0000-4000-8000-0000000000ff')"  # 404


def _refuse(sb: Sandbox, token: str, times: int, path: str = BAD,
            division: int = 100001) -> list[int]:
    return [sb.call(token, path, division=division).status_code for _ in range(times)]


def _is_block(response: requests.Response, endpoint: str = "crm/accounts") -> bool:
    if response.status_code != 429:
        return False
    message = response.json()["error"]["message"]["value"]
    return "Too many errors" in message and endpoint in message


def test_ten_refusals_are_answered_and_the_eleventh_is_the_block(
        sandbox: Sandbox, token: str) -> None:
    assert _refuse(sandbox, token, 10) == [400] * 10
    assert _is_block(sandbox.call(token, BAD))


def test_the_block_answer_is_exacts_error_body_without_rate_limit_headers(
        sandbox: Sandbox, token: str) -> None:
    _refuse(sandbox, token, 10)
    response = sandbox.call(token, BAD)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "" and error["message"]["lang"] == ""
    assert "division 100001" in error["message"]["value"]
    assert not [h for h in response.headers if h.lower().startswith("x-ratelimit")]


def test_a_blocked_endpoint_answers_valid_calls_with_the_block(
        sandbox: Sandbox, token: str) -> None:
    _refuse(sandbox, token, 11)
    assert _is_block(sandbox.call(token, GOOD))
    assert _is_block(sandbox.call(token, "crm/Accounts", method="POST", json={"Name": "X"}))


def test_other_endpoints_and_divisions_are_not_blocked(sandbox: Sandbox, token: str) -> None:
    _refuse(sandbox, token, 11)
    assert sandbox.call(token, "crm/Contacts?$select=ID&$top=1").status_code == 200
    assert sandbox.call(token, GOOD, division=100002).status_code == 200


def test_other_apps_are_not_blocked(sandbox: Sandbox, token: str) -> None:
    _refuse(sandbox, token, 11)
    reader = sandbox.access_token("sandbox-crm-reader")
    assert sandbox.call(reader, GOOD).status_code == 200


def test_keys_query_and_case_do_not_make_another_endpoint(
        sandbox: Sandbox, token: str) -> None:
    assert _refuse(sandbox, token, 5, MISSING) == [404] * 5
    assert _refuse(sandbox, token, 5, "CRM/ACCOUNTS?$select=Nope") == [400] * 5
    assert _is_block(sandbox.call(token, MISSING))


def test_the_block_lifts_after_an_hour_of_sandbox_time(sandbox: Sandbox, token: str) -> None:
    _refuse(sandbox, token, 11)
    sandbox.advance_clock(3500)
    fresh = sandbox.access_token()
    assert _is_block(sandbox.call(fresh, GOOD))
    sandbox.advance_clock(101)
    fresh = sandbox.access_token()
    assert sandbox.call(fresh, GOOD).status_code == 200


def test_a_success_does_not_reset_the_count(sandbox: Sandbox, token: str) -> None:
    assert _refuse(sandbox, token, 5) == [400] * 5
    assert sandbox.call(token, GOOD).status_code == 200
    assert _refuse(sandbox, token, 5) == [400] * 5
    assert _is_block(sandbox.call(token, BAD))


def test_refusals_older_than_an_hour_no_longer_count(sandbox: Sandbox, token: str) -> None:
    assert _refuse(sandbox, token, 10) == [400] * 10
    sandbox.advance_clock(3601)
    fresh = sandbox.access_token()
    assert _refuse(sandbox, fresh, 10) == [400] * 10


def test_injected_faults_do_not_count(sandbox: Sandbox, token: str) -> None:
    sandbox.inject_fault("*/crm/Accounts*", kind="status", status=404, count=12)
    assert _refuse(sandbox, token, 12, GOOD) == [404] * 12
    assert sandbox.call(token, GOOD).status_code == 200


def test_401s_count_for_the_app_whose_token_expired(sandbox: Sandbox, token: str) -> None:
    sandbox.advance_clock(601)  # the access token expired
    assert _refuse(sandbox, token, 10, GOOD) == [401] * 10
    assert _is_block(sandbox.call(token, GOOD))
    assert _is_block(sandbox.call(sandbox.access_token(), GOOD))


def test_calls_without_a_known_token_count_for_no_app(sandbox: Sandbox, token: str) -> None:
    assert _refuse(sandbox, "not-a-token", 12, GOOD) == [401] * 12
    assert sandbox.call(token, GOOD).status_code == 200


def test_the_limit_is_settable_through_the_control_api(sandbox: Sandbox, token: str) -> None:
    assert sandbox.set_limits(errors_hourly=3)["errors_hourly"] == 3
    assert _refuse(sandbox, token, 3) == [400] * 3
    assert _is_block(sandbox.call(token, BAD))


def test_a_limit_of_zero_turns_the_block_off(sandbox: Sandbox, token: str) -> None:
    sandbox.set_limits(errors_hourly=0)
    assert _refuse(sandbox, token, 15) == [400] * 15


def test_the_control_api_lists_the_blocks_in_force(sandbox: Sandbox, token: str) -> None:
    _refuse(sandbox, token, 11)
    blocks = sandbox.set_limits()["error_blocks"]
    assert [(b["client_id"], b["division"], b["endpoint"]) for b in blocks] == [
        ("sandbox-client", 100001, "crm/accounts")]


def test_a_reset_lifts_every_block(sandbox: Sandbox, token: str) -> None:
    _refuse(sandbox, token, 11)
    sandbox.reset()
    assert sandbox.call(sandbox.access_token(), GOOD).status_code == 200


def test_a_block_survives_a_process_restart() -> None:
    with Sandbox(seed=42, process=True, size={"accounts": 3, "contacts": 1}) as sb:
        token = sb.access_token()
        _refuse(sb, token, 11)
        sb.restart()
        assert _is_block(sb.call(sb.access_token(), GOOD))
