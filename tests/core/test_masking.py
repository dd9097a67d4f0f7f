"""Error excerpts mask real secret values only: tokens, client secrets, authorization codes."""

from __future__ import annotations

import pytest

from exact_online_core.odata import error_message, excerpt


@pytest.mark.parametrize(
    "text",
    [
        "Code already exists: ACME",
        "Code: ACME is in use",
        "Item code ABC-1 is blocked",
        "The access token was refused for this division",
        "Refresh token used. Bearer requests are limited",
        "client secret rotation is scheduled",
        "Bearer",
    ],
)
def test_messages_without_secret_values_are_kept_word_for_word(text: str) -> None:
    assert excerpt(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer gAAAAabcdef123456", "gAAAAabcdef123456"),
        ("grant_type=refresh_token&refresh_token=4dCx!IAAAAxyz&client_id=a", "4dCx!IAAAAxyz"),
        ('{"access_token": "gAAAAsecretvalue", "expires_in": "600"}', "gAAAAsecretvalue"),
        ('{"refresh_token":"rt-secret-1"}', "rt-secret-1"),
        ("client_secret=s3cr3t&grant_type=authorization_code", "s3cr3t"),
        ("https://app.example/callback?code=AUTHCODE123&state=x", "AUTHCODE123"),
        ("code=AUTHCODE456&grant_type=authorization_code", "AUTHCODE456"),
    ],
)
def test_secret_values_are_masked(text: str, secret: str) -> None:
    masked = excerpt(text)
    assert secret not in masked
    assert "****" in masked


def test_exact_error_message_about_a_code_is_not_masked() -> None:
    body = b'{"error": {"code": "", "message": {"lang": "", "value": "Code already exists: ACME"}}}'
    assert error_message(body) == "Code already exists: ACME"
