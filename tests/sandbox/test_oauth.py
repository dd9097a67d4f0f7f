"""OAuth2 as Exact does it: code flow, rotating refresh tokens, the 570 s rule, expiries."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import requests

from exact_online_sandbox.server import Sandbox


def _authorize(sb: Sandbox, **params: str) -> requests.Response:
    query = {"client_id": sb.client_id, "redirect_uri": sb.redirect_uri,
             "response_type": "code", "state": "xyz", **params}
    return requests.get(sb.auth_url, params=query, allow_redirects=False, timeout=30)


def _code(sb: Sandbox) -> str:
    location = _authorize(sb).headers["Location"]
    return parse_qs(urlparse(location).query)["code"][0]


def _exchange(sb: Sandbox, code: str) -> requests.Response:
    return sb.token_request(grant_type="authorization_code", code=code,
                      redirect_uri=sb.redirect_uri)


def _refresh(sb: Sandbox, refresh_token: str) -> requests.Response:
    return sb.token_request(grant_type="refresh_token", refresh_token=refresh_token)


def test_auth_code_flow_end_to_end(sandbox: Sandbox) -> None:
    response = _authorize(sandbox)
    assert response.status_code == 302
    location = urlparse(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == sandbox.redirect_uri
    assert parse_qs(location.query)["state"] == ["xyz"]
    tokens = _exchange(sandbox, parse_qs(location.query)["code"][0])
    assert tokens.status_code == 200
    me = sandbox.call(tokens.json()["access_token"], "current/Me", division=None)
    assert me.status_code == 200
    assert len(me.json()["d"]["results"]) == 1


def test_authorize_unknown_client_is_400_page(sandbox: Sandbox) -> None:
    response = _authorize(sandbox, client_id="nobody")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_authorize_redirect_mismatch_is_400_page(sandbox: Sandbox) -> None:
    response = _authorize(sandbox, redirect_uri="http://evil.example/cb")
    assert response.status_code == 400


def test_authorization_code_is_single_use(sandbox: Sandbox) -> None:
    code = _code(sandbox)
    assert _exchange(sandbox, code).status_code == 200
    second = _exchange(sandbox, code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_authorization_code_expires_after_three_minutes(sandbox: Sandbox) -> None:
    code = _code(sandbox)
    sandbox.advance_clock(181)
    response = _exchange(sandbox, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_response_has_exact_shape_and_string_expires_in(sandbox: Sandbox) -> None:
    response = _exchange(sandbox, _code(sandbox))
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["expires_in"] == "600"
    assert body["token_type"] == "bearer"
    assert response.headers["Cache-Control"] == "private"
    assert response.headers["Pragma"] == "no-cache"


def test_tokens_look_like_exact_tokens(sandbox: Sandbox) -> None:
    body = _exchange(sandbox, _code(sandbox)).json()
    assert body["access_token"].startswith("gAAAA")
    assert "!" in body["refresh_token"]


def test_initial_refresh_token_is_refused_once_its_successor_was_used(
        sandbox: Sandbox) -> None:
    first = _refresh(sandbox, sandbox.initial_refresh_token)
    assert first.status_code == 200
    assert sandbox.call(first.json()["access_token"], "current/Me",
                        division=None).status_code == 200
    assert _refresh(sandbox, sandbox.initial_refresh_token).status_code == 401


def test_refresh_rotates_and_old_refresh_token_is_rejected_after_the_new_one_is_used(
        sandbox: Sandbox) -> None:
    old = sandbox.mint_refresh_token()
    new = _refresh(sandbox, old).json()["refresh_token"]
    assert new != old
    sandbox.advance_clock(570)
    assert _refresh(sandbox, new).status_code == 200
    response = _refresh(sandbox, old)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized_client",
                               "error_description": "Old refresh token used."}


def test_used_refresh_token_works_again_while_its_successors_are_unused(
        sandbox: Sandbox) -> None:
    # A client killed while its refresh was in flight never received the new tokens:
    # Exact accepts the used token again for 10 minutes (exact-api.md §1.4).
    stored = sandbox.mint_refresh_token()
    lost = _refresh(sandbox, stored).json()
    sandbox.advance_clock(300)
    again = _refresh(sandbox, stored)
    assert again.status_code == 200
    assert again.json()["refresh_token"] not in (stored, lost["refresh_token"])


def test_used_refresh_token_expires_ten_minutes_after_its_first_use(sandbox: Sandbox) -> None:
    stored = sandbox.mint_refresh_token()
    assert _refresh(sandbox, stored).status_code == 200
    sandbox.advance_clock(601)
    assert _refresh(sandbox, stored).status_code == 401


def test_first_use_of_the_new_access_token_expires_the_used_refresh_token(
        sandbox: Sandbox) -> None:
    stored = sandbox.mint_refresh_token()
    new = _refresh(sandbox, stored).json()
    assert sandbox.call(new["access_token"], "current/Me", division=None).status_code == 200
    assert _refresh(sandbox, stored).status_code == 401
    sandbox.advance_clock(570)
    assert _refresh(sandbox, new["refresh_token"]).status_code == 200


def test_a_used_token_refreshed_again_supersedes_the_lost_answer(sandbox: Sandbox) -> None:
    stored = sandbox.mint_refresh_token()
    lost = _refresh(sandbox, stored).json()
    kept = _refresh(sandbox, stored).json()
    assert sandbox.call(kept["access_token"], "current/Me", division=None).status_code == 200
    sandbox.advance_clock(570)
    assert _refresh(sandbox, lost["refresh_token"]).status_code == 401
    assert _refresh(sandbox, kept["refresh_token"]).status_code == 200


def test_refresh_before_570_seconds_is_rejected_and_token_not_consumed(sandbox: Sandbox) -> None:
    refresh = _exchange(sandbox, _code(sandbox)).json()["refresh_token"]
    sandbox.advance_clock(500)
    early = _refresh(sandbox, refresh)
    assert early.status_code == 400
    assert early.json() == {"error": "access_denied",
                            "error_description": "Rate limit exceeded: access_token not expired"}
    assert early.headers["Reason"] == (
        "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired")
    sandbox.advance_clock(70)
    assert _refresh(sandbox, refresh).status_code == 200


def test_refresh_after_570_seconds_works(sandbox: Sandbox) -> None:
    refresh = _exchange(sandbox, _code(sandbox)).json()["refresh_token"]
    sandbox.advance_clock(570)
    response = _refresh(sandbox, refresh)
    assert response.status_code == 200
    assert response.json()["refresh_token"] != refresh


def test_refresh_token_unused_for_30_days_expires(sandbox: Sandbox) -> None:
    refresh = sandbox.mint_refresh_token()
    sandbox.advance_clock(30 * 86400 + 1)
    response = _refresh(sandbox, refresh)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith("The refresh token expired at ")
    assert " and it is now " in body["error_description"]


def test_wrong_client_secret_is_bare_invalid_request(sandbox: Sandbox) -> None:
    response = sandbox.token_request(grant_type="refresh_token", client_secret="wrong",
                          refresh_token=sandbox.mint_refresh_token())
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request"}


def test_unknown_refresh_token_is_invalid_grant(sandbox: Sandbox) -> None:
    response = _refresh(sandbox, "never-issued")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_access_token_is_401_with_www_authenticate(sandbox: Sandbox) -> None:
    response = sandbox.call(None, "crm/Accounts")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.content == b""


def test_expired_access_token_is_401(sandbox: Sandbox, token: str) -> None:
    assert sandbox.call(token, "current/Me", division=None).status_code == 200
    sandbox.advance_clock(600)
    assert sandbox.call(token, "current/Me", division=None).status_code == 401


def test_earlier_access_token_stays_valid_until_its_own_expiry(sandbox: Sandbox) -> None:
    first = _exchange(sandbox, _code(sandbox)).json()
    sandbox.advance_clock(580)
    second = _refresh(sandbox, first["refresh_token"]).json()
    assert sandbox.call(first["access_token"], "current/Me", division=None).status_code == 200
    sandbox.advance_clock(30)
    assert sandbox.call(first["access_token"], "current/Me", division=None).status_code == 401
    assert sandbox.call(second["access_token"], "current/Me", division=None).status_code == 200


def test_revoke_invalidates_access_and_refresh_tokens(sandbox: Sandbox) -> None:
    tokens = sandbox.tokens()
    sandbox.revoke()
    assert sandbox.call(tokens["access_token"], "current/Me", division=None).status_code == 401
    sandbox.advance_clock(600)
    assert _refresh(sandbox, tokens["refresh_token"]).status_code == 400


def test_token_calls_are_capped_per_app_per_day(sandbox: Sandbox) -> None:
    sandbox.set_limits(token_daily=2)
    assert _refresh(sandbox, sandbox.mint_refresh_token()).status_code == 200
    assert _refresh(sandbox, sandbox.mint_refresh_token()).status_code == 200
    third = _refresh(sandbox, sandbox.mint_refresh_token())
    assert third.status_code == 400
    assert third.headers["Reason"].startswith("TooManyTokenRequests")
    sandbox.advance_clock(86400)
    assert _refresh(sandbox, sandbox.mint_refresh_token()).status_code == 200
