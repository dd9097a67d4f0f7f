"""The OAuth authorization-code flow with the user's own app (whitelabel login)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from exact_online_core.auth import TokenBroker, TokenSet
from exact_online_core.config import ExactConfig
from exact_online_core.errors import AuthError, ConfigError


@dataclass(frozen=True)
class LoginRequest:
    """A consent URL to open, and the ``state`` that must come back with the code."""

    url: str
    state: str
    redirect_uri: str


def start_login(config: ExactConfig, *, force_login: bool = False) -> LoginRequest:
    """Build Exact's consent URL for the configured app and redirect URI."""
    if not config.redirect_uri:
        raise ConfigError("redirect_uri", "is required to log in (your app's redirect URI)")
    state = secrets.token_urlsafe(16)
    query = {
        "client_id": config.client_id,
        "redirect_uri": config.redirect_uri,
        "response_type": "code",
        "state": state,
    }
    if force_login:
        query["force_login"] = "1"
    return LoginRequest(f"{config.auth_url}?{urlencode(query)}", state, config.redirect_uri)


def code_from_redirect(redirect_url: str, request: LoginRequest) -> str:
    """The authorization code from the URL Exact redirected the browser to."""
    parts = urlsplit(redirect_url)
    params = parse_qs(parts.query)
    if "error" in params:
        raise AuthError(f"Exact Online refused the consent: {params['error'][0]}")
    states = params.get("state", [])
    if states != [request.state]:
        raise AuthError("The redirect's state does not match this login; start the login again")
    codes = params.get("code", [])
    if len(codes) != 1 or not codes[0]:
        raise AuthError("The redirect URL carries no authorization code")
    return codes[0]


def finish_login(broker: TokenBroker, request: LoginRequest, redirect_url: str) -> TokenSet:
    """Exchange the code from ``redirect_url`` and store the first token set."""
    return broker.exchange_code(code_from_redirect(redirect_url, request), request.redirect_uri)
