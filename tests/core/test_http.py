"""Unit tests for ExactClient against requests-mock: URLs, paging, retries, 429s, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_mock as rm
from urllib3.exceptions import MaxRetryError, NewConnectionError
from werkzeug.wrappers import Request, Response

from exact_online_core.config import ExactConfig
from exact_online_core.errors import (
    AuthError,
    DailyLimitExceededError,
    ExactError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from exact_online_core.http import ExactClient
from exact_online_core.secrets import Secret

from .loopback import serve

BASE = "https://start.exactonline.nl"
API = f"{BASE}/api/v1"
DIV = 100001
ACCOUNTS = f"{API}/{DIV}/crm/Accounts"
TOKEN = "ACCESS-TOKEN-1-abcdef"
NEW_TOKEN = "ACCESS-TOKEN-2-ghijkl"
NOW = 1_683_879_505.0  # 2023-05-12T08:18:25Z
GUID = "71b961de-0d3c-4e5b-9f0a-2b3c4d5e6f70"


class FakeBroker:
    def __init__(self) -> None:
        self.token = TOKEN
        self.rejected: list[str] = []

    def access_token(self) -> str:
        return self.token

    def after_unauthorized(self, rejected: str) -> str:
        # Returns the new token without changing access_token(): the client must use it.
        self.rejected.append(rejected)
        return NEW_TOKEN


class FakeTime:
    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def client(broker: FakeBroker, fake: FakeTime) -> Iterator[ExactClient]:
    config = ExactConfig(
        base_url=BASE, client_id="cid", client_secret=Secret("s"), max_retries=3, timeout=5.0
    )
    with ExactClient(config, broker, sleep=fake.sleep, clock=fake.clock) as c:
        yield c


@pytest.fixture
def mock() -> Iterator[rm.Mocker]:
    with rm.Mocker() as m:
        yield m


def odata_error(text: str) -> dict[str, Any]:
    return {"error": {"code": "", "message": {"lang": "", "value": text}}}


def collection(rows: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"results": rows}
    if next_url:
        d["__next"] = next_url
    return {"d": d}


# -- URLs and headers -------------------------------------------------------------------------


def test_division_path_goes_under_the_division(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, json=collection([]))
    client.get("crm/Accounts", division=DIV)
    assert urlsplit(mock.last_request.url).path == f"/api/v1/{DIV}/crm/Accounts"


def test_current_me_has_no_division(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(f"{API}/current/Me", json=collection([{"CurrentDivision": 7}]))
    client.get("current/Me")
    assert urlsplit(mock.last_request.url).path == "/api/v1/current/Me"


def test_missing_division_uses_cached_current_division(
    client: ExactClient, mock: rm.Mocker
) -> None:
    me = mock.get(f"{API}/current/Me", json=collection([{"CurrentDivision": 124132}]))
    accounts = mock.get(f"{API}/124132/crm/Accounts", json=collection([]))
    client.get("crm/Accounts")
    client.get("crm/Accounts")
    assert (me.call_count, accounts.call_count) == (1, 2)
    assert client.current_division() == 124132


def test_requests_carry_accept_user_agent_and_bearer(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, json=collection([]))
    client.get("crm/Accounts", division=DIV)
    headers = mock.last_request.headers
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == client.config.user_agent
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Content-Type" not in headers


def test_timeout_comes_from_config(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, json=collection([]))
    client.get("crm/Accounts", division=DIV)
    assert mock.last_request.timeout == 5.0


def test_params_are_encoded_with_spaces_and_quotes_intact(
    client: ExactClient, mock: rm.Mocker
) -> None:
    mock.get(ACCOUNTS, json=collection([]))
    client.get("crm/Accounts", division=DIV, params={"$filter": "Name eq 'O''Brien & Co'"})
    query = urlsplit(mock.last_request.url).query
    assert "+" not in query
    assert parse_qs(query)["$filter"] == ["Name eq 'O''Brien & Co'"]


def test_caller_headers_cannot_replace_authorization(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, json=collection([]))
    client.request("GET", "crm/Accounts", division=DIV, headers={"Authorization": "Bearer evil"})
    assert mock.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


# -- paging -----------------------------------------------------------------------------------


def test_iter_pages_follows_next_once_per_page(client: ExactClient, mock: rm.Mocker) -> None:
    page2 = f"{ACCOUNTS}?$select=ID&$top=40&$skiptoken=guid'{GUID}'"
    mock.get(
        ACCOUNTS,
        [{"json": collection([{"ID": 1}], page2)}, {"json": collection([{"ID": 2}])}],
    )
    pages = list(client.iter_pages("crm/Accounts", division=DIV, params={"$select": "ID"}))
    assert [p.rows for p in pages] == [[{"ID": 1}], [{"ID": 2}]]
    assert [urlsplit(r.url).query for r in mock.request_history] == [
        "$select=ID",
        f"$select=ID&$top=40&$skiptoken=guid'{GUID}'",
    ]


def test_iter_rows_yields_rows_of_every_page(client: ExactClient, mock: rm.Mocker) -> None:
    page2 = f"{ACCOUNTS}?$skiptoken=2"
    page3 = f"{ACCOUNTS}?$skiptoken=3"

    def answer(request: Any, context: Any) -> dict[str, Any]:
        token = parse_qs(urlsplit(request.url).query).get("$skiptoken", ["1"])[0]
        nxt = {"1": page2, "2": page3, "3": None}[token]
        return collection([{"ID": int(token)}], nxt)

    mock.get(ACCOUNTS, json=answer)
    assert [r["ID"] for r in client.iter_rows("crm/Accounts", division=DIV)] == [1, 2, 3]
    assert mock.call_count == 3


def test_iter_pages_is_lazy(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, json=collection([{"ID": 1}], f"{ACCOUNTS}?$skiptoken=2"))
    pages = client.iter_pages("crm/Accounts", division=DIV)
    assert mock.call_count == 0
    next(pages)
    assert mock.call_count == 1
    next(pages)
    assert mock.call_count == 2


def test_next_to_another_host_is_refused(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, json=collection([{"ID": 1}], "https://evil.example/api/v1/1/crm/Accounts"))
    evil = mock.get("https://evil.example/api/v1/1/crm/Accounts", json=collection([]))
    with pytest.raises(MalformedResponseError, match="another host"):
        list(client.iter_pages("crm/Accounts", division=DIV))
    assert evil.call_count == 0


def test_a_nested_next_to_another_host_is_refused_before_any_call(
    client: ExactClient, mock: rm.Mocker
) -> None:
    evil = mock.get("https://evil.example/api/v1/1/x/Lines", json=collection([]))
    pages = client.iter_next_pages("https://evil.example/api/v1/1/x/Lines", division=DIV,
                                   endpoint="x/Entries (Lines)")
    with pytest.raises(MalformedResponseError, match="another host") as caught:
        list(pages)
    assert evil.call_count == 0 and "x/Entries (Lines)" in str(caught.value)


def test_next_with_another_scheme_is_refused(client: ExactClient, mock: rm.Mocker) -> None:
    plain = ACCOUNTS.replace("https://", "http://")
    mock.get(ACCOUNTS, json=collection([{"ID": 1}], plain + "?$skip=1"))
    with pytest.raises(MalformedResponseError):
        list(client.iter_pages("crm/Accounts", division=DIV))
    assert mock.call_count == 1


def test_repeated_next_is_a_paging_loop(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, json=collection([{"ID": 1}], f"{ACCOUNTS}?$skiptoken=2"))
    with pytest.raises(MalformedResponseError, match="loop"):
        list(client.iter_pages("crm/Accounts", division=DIV))
    assert mock.call_count == 2


def test_bare_array_page_ends_paging(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, json={"d": [{"ID": 1}, {"ID": 2}]})
    assert len(list(client.iter_rows("crm/Accounts", division=DIV))) == 2


# -- 429 and rate limits ----------------------------------------------------------------------

MINUTE_RESET_MS = "1683879540000"  # 35 s after NOW


def test_429_waits_for_minutely_reset_then_succeeds(
    client: ExactClient, mock: rm.Mocker, fake: FakeTime
) -> None:
    minutely = {
        "X-RateLimit-Minutely-Limit": "60",
        "X-RateLimit-Minutely-Remaining": "0",
        "X-RateLimit-Minutely-Reset": MINUTE_RESET_MS,
    }
    mock.get(
        ACCOUNTS,
        [{"status_code": 429, "headers": minutely, "text": ""}, {"json": collection([{"ID": 1}])}],
    )
    assert client.get("crm/Accounts", division=DIV) == collection([{"ID": 1}])
    assert fake.sleeps == [pytest.approx(35.0 + client.rate_limiter.margin)]
    assert mock.call_count == 2


def test_daily_429_raises_with_resets_at(client: ExactClient, mock: rm.Mocker) -> None:
    daily = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1683936000000",
    }
    mock.get(ACCOUNTS, status_code=429, headers=daily, text="")
    with pytest.raises(DailyLimitExceededError) as info:
        client.get("crm/Accounts", division=DIV)
    assert info.value.resets_at is not None
    assert info.value.resets_at.isoformat() == "2023-05-13T00:00:00+00:00"
    assert (info.value.method, info.value.endpoint, info.value.division) == (
        "GET",
        "crm/Accounts",
        DIV,
    )
    assert mock.call_count == 1


def test_spent_daily_budget_stops_before_sending(client: ExactClient, mock: rm.Mocker) -> None:
    daily = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1683936000000"}
    mock.get(ACCOUNTS, json=collection([]), headers=daily)
    client.get("crm/Accounts", division=DIV)
    with pytest.raises(DailyLimitExceededError):
        client.get("crm/Accounts", division=DIV)
    assert mock.call_count == 1


def test_spent_minute_sleeps_before_next_call(
    client: ExactClient, mock: rm.Mocker, fake: FakeTime
) -> None:
    headers = {"X-RateLimit-Minutely-Remaining": "0", "X-RateLimit-Minutely-Reset": MINUTE_RESET_MS}
    mock.get(ACCOUNTS, json=collection([]), headers=headers)
    client.get("crm/Accounts", division=DIV)
    assert fake.sleeps == []
    client.get("crm/Accounts", division=DIV)
    assert fake.sleeps == [pytest.approx(36.0)]


def test_429_on_post_is_resent(client: ExactClient, mock: rm.Mocker) -> None:
    mock.post(
        ACCOUNTS,
        [{"status_code": 429, "text": ""}, {"status_code": 201, "json": {"d": {"ID": GUID}}}],
    )
    assert client.post("crm/Accounts", {"Name": "x"}, division=DIV) == {"ID": GUID}
    assert mock.call_count == 2


def test_429_every_time_gives_rate_limit_error(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, status_code=429, text="")
    with pytest.raises(RateLimitError) as info:
        client.get("crm/Accounts", division=DIV)
    assert not isinstance(info.value, DailyLimitExceededError)
    assert mock.call_count == client.config.max_retries + 1


# -- retries ----------------------------------------------------------------------------------


def test_5xx_on_get_is_retried_then_succeeds(
    client: ExactClient, mock: rm.Mocker, fake: FakeTime
) -> None:
    mock.get(ACCOUNTS, [{"status_code": 503, "text": ""}, {"json": collection([{"ID": 1}])}])
    assert client.get("crm/Accounts", division=DIV) == collection([{"ID": 1}])
    assert mock.call_count == 2
    assert len(fake.sleeps) == 1
    assert 0 <= fake.sleeps[0] <= 1.0


def test_5xx_retries_run_out_into_server_error(
    client: ExactClient, mock: rm.Mocker, fake: FakeTime
) -> None:
    mock.get(ACCOUNTS, status_code=500, json=odata_error("Internal error"))
    with pytest.raises(ServerError):
        client.get("crm/Accounts", division=DIV)
    assert mock.call_count == client.config.max_retries + 1
    assert all(0 <= s <= cap for s, cap in zip(fake.sleeps, [1, 2, 4], strict=True))


def test_5xx_on_post_is_not_retried(client: ExactClient, mock: rm.Mocker) -> None:
    mock.post(ACCOUNTS, status_code=500, json=odata_error("Data already exists"))
    with pytest.raises(ServerError):
        client.post("crm/Accounts", {"Name": "x"}, division=DIV)
    assert mock.call_count == 1


def test_timeout_on_post_is_outcome_unknown(client: ExactClient, mock: rm.Mocker) -> None:
    mock.post(ACCOUNTS, exc=requests.exceptions.ReadTimeout)
    with pytest.raises(TransportError) as info:
        client.post("crm/Accounts", {"Name": "x"}, division=DIV)
    assert info.value.outcome_unknown is True
    assert mock.call_count == 1


def test_connection_reset_on_post_is_outcome_unknown(client: ExactClient, mock: rm.Mocker) -> None:
    mock.post(ACCOUNTS, exc=requests.exceptions.ConnectionError("Connection aborted"))
    with pytest.raises(TransportError) as info:
        client.post("crm/Accounts", {"Name": "x"}, division=DIV)
    assert info.value.outcome_unknown is True
    assert mock.call_count == 1


def test_post_that_never_connected_is_retried(client: ExactClient, mock: rm.Mocker) -> None:
    refused = requests.exceptions.ConnectionError(
        MaxRetryError(None, "/", NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    )
    mock.post(ACCOUNTS, [{"exc": refused}, {"status_code": 201, "json": {"d": {"ID": GUID}}}])
    assert client.post("crm/Accounts", {"Name": "x"}, division=DIV) == {"ID": GUID}
    assert mock.call_count == 2


def test_timeout_on_get_is_retried(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, [{"exc": requests.exceptions.ReadTimeout}, {"json": collection([])}])
    assert client.get("crm/Accounts", division=DIV) == collection([])
    assert mock.call_count == 2


def test_timeouts_on_get_run_out_into_transport_error(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, exc=requests.exceptions.ChunkedEncodingError)
    with pytest.raises(TransportError) as info:
        client.get("crm/Accounts", division=DIV)
    assert info.value.outcome_unknown is False
    assert mock.call_count == client.config.max_retries + 1


def test_malformed_json_on_get_is_retried_then_raises(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, text='{"d": {"results": [{"ID": 1}')
    with pytest.raises(MalformedResponseError):
        client.get("crm/Accounts", division=DIV)
    assert mock.call_count == client.config.max_retries + 1


def test_malformed_json_on_get_then_good_body_succeeds(
    client: ExactClient, mock: rm.Mocker
) -> None:
    mock.get(ACCOUNTS, [{"text": "<html>maintenance"}, {"json": collection([])}])
    assert client.get("crm/Accounts", division=DIV) == collection([])


def test_malformed_json_on_post_is_not_retried(client: ExactClient, mock: rm.Mocker) -> None:
    mock.post(ACCOUNTS, status_code=201, text='{"d": {"ID"')
    with pytest.raises(MalformedResponseError):
        client.post("crm/Accounts", {"Name": "x"}, division=DIV)
    assert mock.call_count == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (405, ValidationError),
        (408, ValidationError),
    ],
)
def test_client_errors_are_sent_exactly_once(
    client: ExactClient, mock: rm.Mocker, status: int, error: type[ExactError]
) -> None:
    mock.get(ACCOUNTS, status_code=status, json=odata_error("no"))
    with pytest.raises(error):
        client.get("crm/Accounts", division=DIV)
    assert mock.call_count == 1


def test_redirect_is_not_followed(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, status_code=302, headers={"Location": "https://elsewhere.example/x"})
    other = mock.get("https://elsewhere.example/x", json=collection([]))
    with pytest.raises(ExactError):
        client.get("crm/Accounts", division=DIV)
    assert other.call_count == 0


def test_delete_404_after_a_failed_attempt_counts_as_deleted(
    client: ExactClient, mock: rm.Mocker
) -> None:
    url = f"{ACCOUNTS}(guid'{GUID}')"
    mock.delete(url, [{"status_code": 503, "text": ""}, {"status_code": 404, "text": ""}])
    client.delete(f"crm/Accounts(guid'{GUID}')", division=DIV)
    assert mock.call_count == 2


# -- 401 --------------------------------------------------------------------------------------


def test_401_renews_token_and_retries_with_it(
    client: ExactClient, mock: rm.Mocker, broker: FakeBroker
) -> None:
    mock.get(ACCOUNTS, [{"status_code": 401, "text": ""}, {"json": collection([])}])
    client.get("crm/Accounts", division=DIV)
    assert broker.rejected == [TOKEN]
    auth = [r.headers["Authorization"] for r in mock.request_history]
    assert auth == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]


def test_second_401_raises_auth_error(
    client: ExactClient, mock: rm.Mocker, broker: FakeBroker
) -> None:
    mock.get(ACCOUNTS, status_code=401, text="")
    with pytest.raises(AuthError):
        client.get("crm/Accounts", division=DIV)
    assert broker.rejected == [TOKEN]
    assert mock.call_count == 2


def test_401_on_post_is_resent_once(client: ExactClient, mock: rm.Mocker) -> None:
    mock.post(
        ACCOUNTS,
        [{"status_code": 401, "text": ""}, {"status_code": 201, "json": {"d": {"ID": GUID}}}],
    )
    assert client.post("crm/Accounts", {"Name": "x"}, division=DIV) == {"ID": GUID}
    assert mock.call_count == 2


# -- errors -----------------------------------------------------------------------------------


def test_error_names_call_and_exact_message_and_reason(
    client: ExactClient, mock: rm.Mocker
) -> None:
    mock.get(
        ACCOUNTS,
        status_code=400,
        headers={"Reason": "MandatoryFilter"},
        json=odata_error("This endpoint has mandatory filtering applied."),
    )
    with pytest.raises(ValidationError) as info:
        client.get("crm/Accounts", division=DIV, params={"$select": "ID"})
    err = info.value
    assert (err.method, err.endpoint, err.division, err.status) == ("GET", "crm/Accounts", DIV, 400)
    assert err.exact_message == "This endpoint has mandatory filtering applied."
    assert err.reason == "MandatoryFilter"
    text = str(err)
    for part in ("GET crm/Accounts", str(DIV), "400", "mandatory filtering", "MandatoryFilter"):
        assert part in text
    assert "$select" not in text


def test_errors_never_contain_the_token(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(
        ACCOUNTS,
        status_code=403,
        headers={"Reason": f"token {TOKEN}"},
        json=odata_error(f"Bearer {TOKEN} is not allowed"),
    )
    with pytest.raises(PermissionDeniedError) as info:
        client.get("crm/Accounts", division=DIV)
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)


def test_oauth_style_error_description_is_used(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(
        ACCOUNTS,
        status_code=400,
        json={"error": "invalid_request", "error_description": "bad thing"},
    )
    with pytest.raises(ValidationError) as info:
        client.get("crm/Accounts", division=DIV)
    assert info.value.exact_message == "invalid_request: bad thing"


def test_plain_text_error_body_is_used_shortly(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, status_code=404, text="Not here " * 100)
    with pytest.raises(NotFoundError) as info:
        client.get("crm/Accounts", division=DIV)
    assert info.value.exact_message is not None
    assert info.value.exact_message.startswith("Not here")
    assert len(info.value.exact_message) <= 200


def test_scope_violation_hints_at_app_center(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, status_code=403, json=odata_error("Forbidden - Application Scope Violated"))
    with pytest.raises(PermissionDeniedError, match="App Center"):
        client.get("crm/Accounts", division=DIV)


def test_wrong_division_hints_at_division(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, status_code=403, json=odata_error("Forbidden - WrongDivision"))
    with pytest.raises(PermissionDeniedError, match="cannot reach division 100001"):
        client.get("crm/Accounts", division=DIV)


def test_logs_never_contain_the_token_or_query(
    client: ExactClient, mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exact_online_core")
    mock.get(
        ACCOUNTS,
        [
            {"status_code": 503, "text": ""},
            {"status_code": 401, "text": ""},
            {"json": collection([])},
        ],
    )
    client.get("crm/Accounts", division=DIV, params={"$filter": "Name eq 'secretish'"})
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("exact_online_core")
    )
    assert "GET crm/Accounts" in ours
    assert TOKEN not in ours and NEW_TOKEN not in ours
    assert "secretish" not in ours


# -- writes and accounting --------------------------------------------------------------------


def test_post_sends_json_with_prefer_and_returns_entity(
    client: ExactClient, mock: rm.Mocker
) -> None:
    mock.post(ACCOUNTS, status_code=201, json={"d": {"__metadata": {}, "ID": GUID, "Name": "x"}})
    created = client.post("crm/Accounts", {"Name": "x"}, division=DIV)
    request = mock.last_request
    assert request.headers["Prefer"] == "return=representation"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"Name": "x"}
    assert created is not None and created["ID"] == GUID


def test_post_without_representation_sends_no_prefer(client: ExactClient, mock: rm.Mocker) -> None:
    mock.post(ACCOUNTS, status_code=201, json={"d": {"ID": GUID}})
    client.post("crm/Accounts", {"Name": "x"}, division=DIV, representation=False)
    assert "Prefer" not in mock.last_request.headers


def test_put_and_delete_accept_204(client: ExactClient, mock: rm.Mocker) -> None:
    url = f"{ACCOUNTS}(guid'{GUID}')"
    mock.put(url, status_code=204, text="")
    mock.delete(url, status_code=204, text="")
    assert client.put(f"crm/Accounts(guid'{GUID}')", {"Name": "y"}, division=DIV) is None
    assert client.delete(f"crm/Accounts(guid'{GUID}')", division=DIV) is None
    assert [r.method for r in mock.request_history] == ["PUT", "DELETE"]


def test_calls_are_counted_per_division_and_endpoint(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, [{"status_code": 503, "text": ""}, {"json": collection([])}])
    mock.put(f"{ACCOUNTS}(guid'{GUID}')", status_code=204, text="")
    client.get("crm/Accounts", division=DIV)
    client.put(f"crm/Accounts(guid'{GUID}')", {"Name": "y"}, division=DIV)
    assert client.calls == 3
    assert client.calls_by_endpoint[(DIV, "crm/Accounts")] == 3


def test_request_returns_none_for_204(client: ExactClient, mock: rm.Mocker) -> None:
    mock.get(ACCOUNTS, status_code=204, text="")
    assert client.get("crm/Accounts", division=DIV) is None


# -- dot segments: the token stays inside /api/v1 ------------------------------------------------

ESCAPES = [
    "/api/v1/../oauth2/token",
    "/api/v1/%2e%2e/oauth2/token",
    "/api/v1/%2E%2e/%2e%2E/api/oauth2/token",
    "/api/v1/100001/crm/../../../oauth2/token",
    "/api/v1/100001/./../../oauth2/token",
    "/api/v1/100001/..;/..;/oauth2/token",
    "/api/v1/100001/crm%2f..%2f..%2f..%2foauth2/token",
    "/api/v1/100001/%252e%252e/%252e%252e/oauth2/token",
    "/api/v1\\..\\oauth2/token",
]


def page_then(next_path: str) -> Callable[[Request], Response]:
    """An API that answers its first page with ``__next`` = ``next_path`` on the same host."""

    def answer(request: Request) -> Response:
        if request.path.startswith("/api/v1/100001/crm/Accounts"):
            base = request.host_url.rstrip("/")
            body = {"d": {"results": [{"ID": 1}], "__next": base + next_path}}
            return Response(json.dumps(body), mimetype="application/json")
        return Response(json.dumps({"access_token": "x"}), mimetype="application/json")

    return answer


@pytest.mark.parametrize("next_path", ESCAPES)
def test_next_with_dot_segments_never_receives_the_token(
    next_path: str, broker: FakeBroker, fake: FakeTime
) -> None:
    with serve(page_then(next_path)) as host:
        config = ExactConfig(base_url=host.base_url, client_id="cid", client_secret=Secret("s"),
                             max_retries=0, timeout=5.0)
        with ExactClient(config, broker, sleep=fake.sleep, clock=fake.clock) as client, \
                pytest.raises(MalformedResponseError, match="__next"):
            list(client.iter_pages("crm/Accounts", division=DIV))
    assert [seen.path for seen in host.requests] == ["/api/v1/100001/crm/Accounts"]


@pytest.mark.parametrize("path", ["../../oauth2/token", "crm/%2e%2e/%2e%2e/%2e%2e/oauth2/token",
                                  "crm/..;/..;/..;/oauth2/token"])
def test_a_request_path_with_dot_segments_is_refused_before_sending(
    path: str, broker: FakeBroker, fake: FakeTime
) -> None:
    with serve(page_then("/")) as host:
        config = ExactConfig(base_url=host.base_url, client_id="cid", client_secret=Secret("s"),
                             max_retries=0, timeout=5.0)
        with ExactClient(config, broker, sleep=fake.sleep, clock=fake.clock) as client, \
                pytest.raises(ValidationError, match="dot segment"):
            client.request("GET", path, division=DIV)
    assert host.requests == []
