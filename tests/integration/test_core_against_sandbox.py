"""exact_online_core against the sandbox as a real HTTP server: tokens, paging, limits, faults."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exact_online_core import odata
from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.errors import (
    DailyLimitExceededError,
    LoginRequiredError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    TransportError,
    ValidationError,
)
from exact_online_core.http import ExactClient
from exact_online_sandbox.server import Sandbox

DIVISION = 100001
TOKEN_CALLS = "POST oauth2/token"


def token_calls(sandbox: Sandbox) -> int:
    return int(sandbox.calls()["by_endpoint"].get(TOKEN_CALLS, 0))


def endpoint_calls(sandbox: Sandbox, key: str) -> int:
    return int(sandbox.calls()["by_endpoint"].get(key, 0))


def stored(config: ExactConfig) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(config.token_store.read_text())
    return data


# -- tokens ------------------------------------------------------------------------------


def test_rotated_refresh_token_is_persisted_and_the_old_one_is_dead(
    client: ExactClient, config: ExactConfig, sandbox: Sandbox
) -> None:
    client.get("current/Me")
    seed = config.refresh_token
    assert seed is not None
    assert stored(config)["refresh_token"] != seed.reveal()
    reuse = sandbox.token_request(grant_type="refresh_token", refresh_token=seed.reveal())
    assert reuse.status_code in (400, 401)


def test_no_refresh_happens_before_the_token_is_570_seconds_old(
    client: ExactClient, sandbox: Sandbox
) -> None:
    client.get("current/Me")
    assert token_calls(sandbox) == 1
    sandbox.advance_clock(300)
    client.get("current/Me")
    sandbox.advance_clock(268)
    client.get("current/Me")
    assert token_calls(sandbox) == 1
    sandbox.advance_clock(3)
    client.get("current/Me")
    assert token_calls(sandbox) == 2


def test_expired_access_token_answered_401_is_refreshed_once(
    settings: dict[str, Any], sandbox: Sandbox, make_client: Callable[..., ExactClient]
) -> None:
    config = ExactConfig.from_mapping(settings)
    wall_clock_broker = broker_from_config(config)  # its clock does not see the sandbox jump
    client = make_client(wall_clock_broker)
    client.get("current/Me")
    sandbox.advance_clock(601)
    client.get("current/Me")
    assert token_calls(sandbox) == 2
    assert sandbox.calls()["by_status"].get("401") == 1


SECOND_PROCESS = """
import json, sys
from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.http import ExactClient
config = ExactConfig.from_mapping(json.load(open(sys.argv[1])))
with ExactClient(config, broker_from_config(config)) as client:
    print(client.get("current/Me")["d"]["results"][0]["CurrentDivision"])
"""


def test_a_second_process_picks_up_the_rotated_token_instead_of_the_old_one(
    settings: dict[str, Any],
    sandbox: Sandbox,
    make_client: Callable[..., ExactClient],
    tmp_path: Path,
) -> None:
    config = ExactConfig.from_mapping(settings)
    first = make_client(broker_from_config(config))
    first.get("current/Me")  # rotates the configured seed token
    sandbox.advance_clock(601)  # the stored access token is now expired in Exact's eyes
    settings_file = tmp_path / "config.json"
    settings_file.write_text(json.dumps(settings))  # still holds the used-up seed token
    run = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, str(settings_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(DIVISION)
    first.get("current/Me")  # answered 401, then takes the second process's new token
    assert token_calls(sandbox) == 2
    assert "Old refresh token" not in json.dumps(sandbox.calls())


def test_a_revoked_refresh_token_asks_for_login_without_retrying(
    client: ExactClient, sandbox: Sandbox
) -> None:
    client.get("current/Me")
    sandbox.revoke()
    sandbox.advance_clock(601)
    before = token_calls(sandbox)
    with pytest.raises(LoginRequiredError, match="exact-online login"):
        client.get("current/Me")
    assert token_calls(sandbox) == before + 1


def test_secrets_never_appear_in_logs_or_errors(
    client: ExactClient, config: ExactConfig, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.get("current/Me")
    sandbox.inject_fault("*/crm/Accounts*", "status", status=403)
    with pytest.raises(PermissionDeniedError) as caught:
        client.get("crm/Accounts", division=DIVISION)
    tokens = stored(config)
    secrets = [config.client_secret.reveal(), tokens["access_token"], tokens["refresh_token"]]
    assert config.refresh_token is not None
    secrets.append(config.refresh_token.reveal())
    visible = caplog.text + str(caught.value) + repr(caught.value) + repr(client.broker)
    for secret in secrets:
        assert secret not in visible


# -- paging ------------------------------------------------------------------------------


def test_sync_paging_returns_every_row_exactly_once(
    settings: dict[str, Any], sandbox: Sandbox, make_client: Callable[..., ExactClient]
) -> None:
    sandbox.reset(size={"accounts": 2500})
    sandbox.set_limits(minutely=1000)
    fresh = {**settings, "refresh_token": sandbox.mint_refresh_token()}  # reset drops tokens
    client = make_client(broker_from_config(ExactConfig.from_mapping(fresh)))
    ids = [
        row["ID"]
        for row in client.iter_rows(
            "sync/CRM/Accounts",
            division=DIVISION,
            params=odata.build_params(
                select=["ID", "Timestamp"], filter=odata.gt("Timestamp", odata.int64(1))
            ),
        )
    ]
    assert len(ids) == sandbox.row_count("crm/Accounts", DIVISION) == 2500
    assert len(set(ids)) == len(ids)
    assert endpoint_calls(sandbox, "GET sync/CRM/Accounts") == 3


def test_plain_endpoint_paging_of_60_rows_returns_every_row_once(
    client: ExactClient, sandbox: Sandbox
) -> None:
    sandbox.set_limits(minutely=1000)
    expected = sandbox.row_count("crm/Contacts", DIVISION)
    ids = [
        row["ID"]
        for row in client.iter_rows("crm/Contacts", division=DIVISION, params={"$select": "ID"})
    ]
    assert len(ids) == len(set(ids)) == expected
    assert endpoint_calls(sandbox, "GET crm/Contacts") == -(-expected // 60)


def test_quotes_in_filter_values_are_escaped(client: ExactClient) -> None:
    name = "O'Brien & \"Sons\" 'quoted'"
    client.post("crm/Accounts", {"Name": name}, division=DIVISION)
    rows = list(
        client.iter_rows(
            "crm/Accounts",
            division=DIVISION,
            params=odata.build_params(
                select=["ID", "Name"], filter=odata.eq("Name", odata.string(name))
            ),
        )
    )
    assert [row["Name"] for row in rows] == [name]


# -- rate limits -------------------------------------------------------------------------


def test_429_waits_for_the_minute_reset_and_succeeds(
    client: ExactClient, sandbox: Sandbox, sleeper: Any
) -> None:
    sandbox.inject_fault("*/crm/Accounts*", "rate_limit", count=1)
    client.get("crm/Accounts", division=DIVISION, params={"$select": "ID", "$top": "1"})
    assert endpoint_calls(sandbox, "GET crm/Accounts") == 2
    assert any(0 < wait <= 61 for wait in sleeper.waits)


def test_minute_budget_is_respected_without_any_429(client: ExactClient, sandbox: Sandbox) -> None:
    sandbox.set_limits(minutely=5)
    for _ in range(12):
        client.get("crm/Accounts", division=DIVISION, params={"$select": "ID", "$top": "1"})
    assert sandbox.calls()["by_status"].get("429", 0) == 0
    assert endpoint_calls(sandbox, "GET crm/Accounts") == 12


def test_spent_daily_budget_raises_a_distinct_error_with_the_reset_time(
    client: ExactClient, sandbox: Sandbox
) -> None:
    sandbox.set_limits(daily=3)
    with pytest.raises(DailyLimitExceededError) as caught:
        for _ in range(5):
            client.get("crm/Accounts", division=DIVISION, params={"$select": "ID", "$top": "1"})
    assert caught.value.resets_at is not None
    assert "resume" in str(caught.value)


# -- retries and faults -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        pytest.param("status", {"status": 500}, id="500"),
        pytest.param("status", {"status": 503}, id="503"),
        pytest.param("reset", {}, id="connection-reset"),
        pytest.param("malformed", {}, id="malformed-json"),
        pytest.param("truncated", {}, id="truncated-json"),
    ],
)
def test_transient_fault_on_get_is_retried_until_it_succeeds(
    client: ExactClient, sandbox: Sandbox, kind: str, spec: dict[str, Any]
) -> None:
    sandbox.inject_fault("*/crm/Accounts*", kind, method="GET", count=2, **spec)
    body = client.get("crm/Accounts", division=DIVISION, params={"$select": "ID", "$top": "1"})
    assert len(body["d"]) == 1  # $top=1: Exact answers a bare {"d": [...]}
    assert endpoint_calls(sandbox, "GET crm/Accounts") == 3


def test_timeout_on_get_is_retried(
    make_client: Callable[..., ExactClient], settings: dict[str, Any], sandbox: Sandbox
) -> None:
    client = make_client()
    client.config = ExactConfig.from_mapping({**settings, "timeout": 0.5})
    sandbox.inject_fault("*/crm/Accounts*", "delay", method="GET", seconds=2, count=1)
    body = client.get("crm/Accounts", division=DIVISION, params={"$select": "ID", "$top": "1"})
    assert len(body["d"]) == 1  # $top=1: Exact answers a bare {"d": [...]}
    assert (
        client.calls_by_endpoint[(DIVISION, "crm/Accounts")] == 2
    )  # the slow one is still running


def test_fault_that_never_clears_ends_with_a_server_error_naming_the_call(
    client: ExactClient, sandbox: Sandbox
) -> None:
    sandbox.inject_fault("*/crm/Accounts*", "status", status=503, count=50)
    with pytest.raises(ServerError) as caught:
        client.get("crm/Accounts", division=DIVISION)
    assert "GET crm/Accounts (division 100001)" in str(caught.value)
    assert endpoint_calls(sandbox, "GET crm/Accounts") == 5  # 1 + max_retries (4)


@pytest.mark.parametrize(
    ("kind", "spec", "error"),
    [
        pytest.param("status", {"status": 500}, ServerError, id="500"),
        pytest.param("reset", {"after": True}, TransportError, id="reset-after-processing"),
    ],
)
def test_post_is_never_retried(
    client: ExactClient, sandbox: Sandbox, kind: str, spec: dict[str, Any], error: type[Exception]
) -> None:
    sandbox.inject_fault("*/crm/Accounts*", kind, method="POST", count=5, **spec)
    with pytest.raises(error) as caught:
        client.post("crm/Accounts", {"Name": "Once Only BV"}, division=DIVISION)
    assert endpoint_calls(sandbox, "POST crm/Accounts") == 1
    if isinstance(caught.value, TransportError):
        assert caught.value.outcome_unknown


def test_4xx_answers_are_never_retried(client: ExactClient, sandbox: Sandbox) -> None:
    with pytest.raises(ValidationError):
        client.get("crm/Accounts", division=DIVISION, params={"$filter": "Name eq"})
    with pytest.raises(PermissionDeniedError, match="WrongDivision"):
        client.get("crm/Accounts", division=100003, params={"$select": "ID"})
    with pytest.raises(NotFoundError):
        client.get("crm/Accounts(guid'00000000-0000-0000-0000-000000000001')", division=DIVISION)
    by_endpoint = sandbox.calls()["by_endpoint"]
    assert by_endpoint.get("GET crm/Accounts") == 3


def test_scope_violation_names_the_missing_scope_grant(
    settings: dict[str, Any], sandbox: Sandbox, tmp_path: Path, sleeper: Any
) -> None:
    reader = ExactConfig.from_mapping(
        {
            **settings,
            "client_id": "sandbox-crm-reader",
            "refresh_token": sandbox.mint_refresh_token("sandbox-crm-reader"),
            "token_store": str(tmp_path / "reader.json"),
        }
    )
    with ExactClient(reader, broker_from_config(reader), sleep=sleeper) as client:
        client.get("crm/Accounts", division=DIVISION, params={"$select": "ID", "$top": "1"})
        with pytest.raises(PermissionDeniedError, match="Application Scope Violated") as caught:
            client.get("logistics/Items", division=DIVISION, params={"$select": "ID"})
    assert "App Center" in str(caught.value)
