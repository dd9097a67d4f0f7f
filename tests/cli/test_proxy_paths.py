"""Which proxy paths are allowed: only the configured host's /api/v1."""

from __future__ import annotations

import pytest

from exact_online_core.proxy import ProxyTarget, RefusedPathError, resolve_path

BASE = "https://start.exactonline.nl"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("crm/Accounts", ProxyTarget("crm/Accounts")),
        ("/crm/Accounts", None),
        ("current/Me", ProxyTarget("current/Me")),
        ("sync/Deleted?$filter=Timestamp gt 1L",
         ProxyTarget("sync/Deleted?$filter=Timestamp gt 1L")),
        ("/api/v1/100001/crm/Accounts?$top=1", ProxyTarget("crm/Accounts?$top=1", 100001)),
        ("https://start.exactonline.nl/api/v1/100002/crm/Accounts?$skiptoken=x",
         ProxyTarget("crm/Accounts?$skiptoken=x", 100002)),
        ("HTTPS://Start.ExactOnline.nl:443/api/v1/current/Me", ProxyTarget("current/Me")),
    ],
)
def test_paths_under_the_api_are_made_relative(raw: str, expected: ProxyTarget | None) -> None:
    if expected is None:
        with pytest.raises(RefusedPathError):
            resolve_path(BASE, raw)
    else:
        assert resolve_path(BASE, raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "https://evil.example/api/v1/100001/crm/Accounts",
        "//evil.example/api/v1/crm/Accounts",
        "http://start.exactonline.nl/api/v1/current/Me",
        "https://start.exactonline.nl:8443/api/v1/current/Me",
        "https://user@start.exactonline.nl/api/v1/current/Me",
        "https://start.exactonline.nl.evil.example/api/v1/current/Me",
        "/api/oauth2/token",
        "/api/v1/../oauth2/token",
        "crm/../../../oauth2/token",
        "crm/%2e%2e/%2E%2E/oauth2/token",
        "crm/%252e%252e/x",
        "/api/v1/100001/..;/..;/oauth2/token",
        "https://start.exactonline.nl/api/v1/%2e%2E/oauth2/token",
        "crm/.%2e/.%2e/.%2e/oauth2/token",
        "crm/Accounts%2f..%2f..",
        "crm\\..\\Accounts",
        "crm//Accounts",
        "crm/Acc\nounts",
        "crm/Acc ounts",
        "crm/Accounts#frag",
        "",
    ],
)
def test_paths_that_could_leave_the_api_are_refused(raw: str) -> None:
    with pytest.raises(RefusedPathError):
        resolve_path(BASE, raw)
