"""Call any Exact Online REST endpoint with auth handled, and never let the token leave the API.

The proxy takes what a user types (``crm/Accounts``, ``/api/v1/100001/sync/Deleted?...``, or
an absolute URL copied from a ``__next`` link) and turns it into a path relative to the
configured API root *before* anything is sent. Everything that could point the bearer token
somewhere else is refused up front: another host, scheme or port, user info in the URL,
paths outside ``/api/v1``, dot segments (``..``, also percent-encoded), backslashes, empty
segments and control characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from exact_online_core.errors import ValidationError
from exact_online_core.http import ExactClient, path_problem
from exact_online_core.odata import strip_metadata

METHODS = ("GET", "POST", "PUT", "DELETE")
API_PREFIX = "/api/v1/"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RefusedPathError(ValidationError):
    """The path or URL would send the request (and the token) outside the REST API."""


@dataclass(frozen=True)
class ProxyTarget:
    """A checked endpoint: ``path`` is relative to ``/api/v1/{division}/`` (or ``current/…``)."""

    path: str
    division: int | None = None
    """The division the user wrote in the path (``/api/v1/100001/...``), if any."""


def resolve_path(base_url: str, raw: str) -> ProxyTarget:
    """Check ``raw`` and make it relative to the API root of ``base_url``; refuse otherwise."""
    text = (raw or "").strip()
    if not text:
        raise RefusedPathError("give an endpoint such as crm/Accounts")
    if _CONTROL.search(text) or "\\" in text:
        raise RefusedPathError(f"refused {text!r}: control characters and backslashes are "
                               "not allowed in an endpoint (percent-encode them)")
    if "#" in text:
        raise RefusedPathError(f"refused {text!r}: a URL fragment (#) is not allowed")
    if "://" in text.split("?", 1)[0] or text.startswith("//"):
        text = _same_origin_path(base_url, text)
    path, sep, query = text.partition("?")
    if path.startswith("/"):
        if not (path + "/").startswith(API_PREFIX):
            raise RefusedPathError(
                f"refused {raw!r}: only paths under {API_PREFIX} (the REST API) may be called, "
                "so the access token is never sent to another endpoint"
            )
        path = path[len(API_PREFIX):]
    if " " in path:
        raise RefusedPathError(f"refused {raw!r}: spaces in the path (before '?')")
    segments = path.split("/")
    if not path or any(segment == "" for segment in segments):
        raise RefusedPathError(f"refused {raw!r}: empty path segment")
    problem = path_problem(path)
    if problem:
        raise RefusedPathError(f"refused {raw!r}: the path {problem}, which could leave the "
                               "REST API")
    division: int | None = None
    if segments[0].isdigit():
        division = int(segments[0])
        segments = segments[1:]
        if not segments:
            raise RefusedPathError(f"refused {raw!r}: no endpoint after the division")
    return ProxyTarget("/".join(segments) + (sep + query if sep else ""), division)


def _same_origin_path(base_url: str, url: str) -> str:
    parts = urlsplit(url if "://" in url.split("?", 1)[0] else "https:" + url)
    base = urlsplit(base_url)
    try:
        port, base_port = parts.port, base.port
    except ValueError:
        raise RefusedPathError(f"refused {url!r}: invalid port") from None
    default = {"http": 80, "https": 443}
    same = (
        parts.scheme.lower() == base.scheme.lower()
        and (parts.hostname or "").lower() == (base.hostname or "").lower()
        and (port or default.get(parts.scheme.lower())) == (base_port or default.get(base.scheme))
        and not parts.username
        and not parts.password
    )
    if not same:
        raise RefusedPathError(
            f"refused {parts.scheme}://{parts.hostname}/...: the proxy only calls the "
            f"configured Exact Online host ({base.scheme}://{base.netloc}), so the access "
            "token is never sent elsewhere"
        )
    return parts.path + (f"?{parts.query}" if parts.query else "")


def proxy_request(
    client: ExactClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    division: int | None = None,
    all_pages: bool = False,
    params: Mapping[str, str] | None = None,
) -> Any:
    """One checked call through ``client``: the parsed JSON (for ``all_pages`` every row).

    ``division`` given both in the path and as an argument must agree. Retries, 429 waits,
    token refresh and error mapping are the client's.
    """
    verb = method.upper()
    if verb not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    target = resolve_path(client.config.base_url, path)
    if target.division is not None and division is not None and target.division != division:
        raise ValidationError(
            f"the path names division {target.division} but --division is {division}"
        )
    chosen = target.division if target.division is not None else division
    if all_pages:
        if verb != "GET":
            raise ValidationError("--all (follow __next pages) only applies to GET")
        rows: list[dict[str, Any]] = []
        for page in client.iter_pages(target.path, division=chosen, params=params):
            rows.extend(strip_metadata(row) for row in page.rows)
        return rows
    headers = {"Prefer": "return=representation"} if verb == "POST" else None
    if body is not None and verb in ("GET", "DELETE"):
        raise ValidationError(f"{verb} takes no body (--data)")
    return client.request(
        verb, target.path, division=chosen, params=params, json=body, headers=headers
    )


__all__ = ["METHODS", "ProxyTarget", "RefusedPathError", "proxy_request", "resolve_path"]
