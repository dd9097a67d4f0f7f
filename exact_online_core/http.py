"""The one HTTP path to Exact: URLs, bearer token, retries, 429 waits, paging and error mapping."""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit

import msgspec
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

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
from exact_online_core.metrics import RequestObserver, RequestTiming
from exact_online_core.odata import (
    Page,
    encode_body,
    error_message,
    excerpt,
    parse_collection,
    parse_single,
    strip_metadata,
)
from exact_online_core.ratelimit import RateLimiter

logger = logging.getLogger("exact_online_core.http")

BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
# Methods that may be re-sent after a 5xx, a timeout, a reset or a broken body.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_REFUSED_HEADERS = frozenset({"authorization", "host"})
_KEY_SEGMENT = re.compile(r"\([^)]*\)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

SCOPE_HINT = (
    "The app lacks the scope this endpoint needs: grant it to the app in the Exact App Center, "
    "then run `exact-online login` again so the user consents to it."
)
WRONG_DIVISION_HINT = (
    "The user cannot reach division {division}: check the `divisions` setting "
    "(system/Divisions lists the reachable ones)."
)


class AccessTokenProvider(Protocol):
    """What the client needs from the token broker (``auth.TokenBroker`` implements it)."""

    def access_token(self) -> str:
        """A currently valid access token."""
        ...

    def after_unauthorized(self, rejected: str) -> str:
        """A 401 answered ``rejected``: the token to retry with, or AuthError/LoginRequired."""
        ...


class ExactClient:
    """Talks to one Exact Online host for one user; every call goes through :meth:`request`.

    ``calls`` counts HTTP requests sent, ``calls_by_endpoint`` counts them per
    ``(division, endpoint)`` with record keys removed (``crm/Accounts(guid'…')`` →
    ``crm/Accounts``), which is how Exact budgets errors. ``on_response``, when set, is
    told the endpoint, status and duration of every attempt (the tap's METRIC lines).
    """

    def __init__(
        self,
        config: ExactConfig,
        broker: AccessTokenProvider | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.config = config
        self.broker = broker
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._clock = clock
        self.rate_limiter = rate_limiter or RateLimiter(clock=clock, sleep=sleep)
        self.calls = 0
        self.calls_by_endpoint: Counter[tuple[int | None, str]] = Counter()
        self.on_response: RequestObserver | None = None
        self._current_division: int | None = None
        self._random = random.Random()
        base = urlsplit(config.api_root)
        self._origin = _origin(config.api_root)
        self._api_path = base.path.rstrip("/") + "/"

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> ExactClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public calls ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        division: int | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one call (with retries as the method allows); parsed JSON, or None when empty."""
        method = method.upper()
        url, division, endpoint = self._target(path, division)
        body = None if json is None else encode_body(json)
        return self._call(method, _with_params(url, params), division, endpoint, body, headers)

    def get(
        self, path: str, *, division: int | None = None, params: Mapping[str, str] | None = None
    ) -> Any:
        return self.request("GET", path, division=division, params=params)

    def iter_pages(
        self, path: str, *, division: int | None = None, params: Mapping[str, str] | None = None
    ) -> Iterator[Page]:
        """Pages of a collection, following ``__next`` one page at a time (only on our host)."""
        url, division, endpoint = self._target(path, division)
        yield from self._follow(_with_params(url, params), division, endpoint)

    def iter_next_pages(self, next_url: str, *, division: int, endpoint: str) -> Iterator[Page]:
        """Pages from an absolute ``__next`` link on (an expanded collection's nested one, which
        Exact pages at 60), checked like any ``__next``; ``endpoint`` names it in errors."""
        self._check_next(next_url, _ctx("GET", endpoint, division))
        yield from self._follow(next_url, division, endpoint)

    def _follow(self, url: str, division: int | None, endpoint: str) -> Iterator[Page]:
        get_ctx = _ctx("GET", endpoint, division)
        seen: set[str] = set()
        while True:
            page = self._page(url, division, endpoint)
            yield page
            if page.next_url is None:
                return
            self._check_next(page.next_url, get_ctx)
            if page.next_url in seen or page.next_url == url:
                raise MalformedResponseError(
                    "__next repeats a page already read (paging loop); stopped", **get_ctx
                )
            seen.add(url)
            url = page.next_url

    def iter_rows(
        self, path: str, *, division: int | None = None, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every row of a collection, page by page (rows keep their ``__metadata``)."""
        for page in self.iter_pages(path, division=division, params=params):
            yield from page.rows

    def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        division: int | None = None,
        representation: bool = True,
    ) -> dict[str, Any] | None:
        """Create a record; the created entity (all computed fields with ``representation``)."""
        headers = {"Prefer": "return=representation"} if representation else None
        url, division, endpoint = self._target(path, division)
        data = self._call("POST", url, division, endpoint, encode_body(body), headers)
        if data is None:
            return None
        try:
            return parse_single(data)
        except MalformedResponseError as exc:
            hint = "The record was probably created: look it up before sending it again."
            ctx = _ctx("POST", endpoint, division)
            raise MalformedResponseError(exc.message, hint=hint, **ctx) from None

    def put(self, path: str, body: Mapping[str, Any], *, division: int | None = None) -> None:
        """Update a record with the fields in ``body`` (Exact answers 204)."""
        self.request("PUT", path, division=division, json=body)

    def delete(self, path: str, *, division: int | None = None) -> None:
        """Delete a record (Exact answers 204)."""
        self.request("DELETE", path, division=division)

    def current_division(self) -> int:
        """The user's current division (``current/Me`` ``CurrentDivision``), asked once."""
        if self._current_division is None:
            me = parse_single(self.get("current/Me", params={"$select": "CurrentDivision"}))
            self._current_division = _division_code(me.get("CurrentDivision"))
        return self._current_division

    def me(self) -> dict[str, Any]:
        """The ``current/Me`` row without ``__metadata`` (also caches the current division)."""
        me = strip_metadata(parse_single(self.get("current/Me")))
        self._current_division = _division_code(me.get("CurrentDivision"))
        return me

    # -- URLs ------------------------------------------------------------------------------

    def _target(self, path: str, division: int | None) -> tuple[str, int | None, str]:
        """(absolute URL, division or None, endpoint) for a path relative to the API root."""
        if not isinstance(path, str) or not path.strip():
            raise ValueError("path must be a non-empty relative path such as 'crm/Accounts'")
        path = path.strip().lstrip("/")
        if "://" in path.split("?", 1)[0]:
            raise ValueError("path must be relative to the API root (e.g. 'crm/Accounts')")
        endpoint = path.split("?", 1)[0]
        if endpoint.lower().startswith("current/"):
            return f"{self.config.api_root}/{path}", None, endpoint
        if division is None:
            division = self.current_division()
        if isinstance(division, bool) or not isinstance(division, int) or division <= 0:
            raise ValueError(f"division must be a positive division code, got {division!r}")
        return f"{self.config.api_root}/{division}/{path}", division, endpoint

    def _check_next(self, next_url: str, ctx: dict[str, Any]) -> None:
        """Refuse a ``__next`` that leaves our host or API root: the token must not follow it."""
        parts = urlsplit(next_url)
        if _origin(next_url) != self._origin or parts.username or parts.password:
            raise MalformedResponseError(
                f"__next points to another host ({parts.scheme}://{parts.hostname}); refused so "
                "the access token is never sent there",
                **ctx,
            )
        problem = self._path_problem(parts.path)
        if problem:
            raise MalformedResponseError(f"__next {problem}; refused", **ctx)

    def _path_problem(self, path: str) -> str | None:
        """Why a URL path could take the token outside the REST API (None: it cannot)."""
        problem = path_problem(path)
        if problem:
            return problem
        if not path.startswith(self._api_path):
            return f"points outside the REST API ({self._api_path})"
        return None

    def _checked(self, url: str, ctx: dict[str, Any]) -> str:
        """``url`` if the bearer token may go there: our origin, normalized under the API."""
        parts = urlsplit(url)
        problem = (
            "is not on the configured host"
            if _origin(url) != self._origin or parts.username or parts.password
            else self._path_problem(parts.path)
        )
        if problem:
            raise ValidationError(
                f"the URL path {problem}; refused so the access token is never sent "
                "outside the REST API",
                **ctx,
            )
        return url

    # -- the request loop ------------------------------------------------------------------

    def _page(self, url: str, division: int | None, endpoint: str) -> Page:
        data = self._call("GET", url, division, endpoint, None, None)
        try:
            return parse_collection(data)
        except MalformedResponseError as exc:
            raise MalformedResponseError(exc.message, **_ctx("GET", endpoint, division)) from None

    def _call(
        self,
        method: str,
        url: str,
        division: int | None,
        endpoint: str,
        body: bytes | None,
        extra_headers: Mapping[str, str] | None,
    ) -> Any:
        retriable = method in IDEMPOTENT
        ctx = _ctx(method, endpoint, division)
        url = self._checked(url, ctx)
        failures = 0  # transient failures (5xx, transport, broken body) so far
        throttled = 0  # 429s in a row
        renewed_token: str | None = None
        reauthorized = False
        error: ExactError
        while True:
            try:
                self.rate_limiter.before_call(division)
            except DailyLimitExceededError as exc:
                raise _with_context(exc, ctx) from None
            token = renewed_token or (self.broker.access_token() if self.broker else None)
            renewed_token = None
            headers = self._headers(token, body is not None, extra_headers)
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    timeout=self.config.timeout,
                    allow_redirects=False,
                )
            except TRANSPORT_ERRORS as exc:
                self._count(division, endpoint, method, None, started)
                reached = not _never_connected(exc)
                error = TransportError(
                    _transport_message(exc, self.config.timeout),
                    outcome_unknown=reached and not retriable,
                    hint=(
                        "The request may have been applied: check before sending it again."
                        if reached and not retriable
                        else None
                    ),
                    **ctx,
                )
                if reached and not retriable:
                    raise error from exc
                failures = self._retry_or_raise(error, failures, exc)
                continue
            status = response.status_code
            elapsed = self._count(division, endpoint, method, status, started)
            self.rate_limiter.record(division, response.headers)
            logger.debug("%s %s division=%s status=%s %.3f s", *ctx.values(), status, elapsed)
            if status == 429:
                throttled += 1
                if throttled > self.config.max_retries:
                    raise self._http_error(response, token, ctx)
                try:
                    self.rate_limiter.wait_for_429(division, response.headers)
                except DailyLimitExceededError as exc:
                    raise _with_context(exc, ctx) from None
                continue
            throttled = 0
            if status == 401:
                if self.broker is None or reauthorized or token is None:
                    raise self._http_error(response, token, ctx)
                reauthorized = True
                renewed_token = self.broker.after_unauthorized(token)
                continue
            if status >= 500:
                error = self._http_error(response, token, ctx)
                if not retriable:
                    raise error
                failures = self._retry_or_raise(error, failures)
                continue
            if status == 404 and method == "DELETE" and failures:
                logger.info("DELETE %s: 404 after a failed attempt; it was deleted", endpoint)
                return None
            if status >= 300:
                raise self._http_error(response, token, ctx)
            try:
                return _decode(response, method)
            except ValueError:
                error = MalformedResponseError(
                    f"the {status} response body is not valid JSON: {excerpt(response.content)}",
                    status=status,
                    hint=None if retriable else "The write was probably applied: check first.",
                    **ctx,
                )
                if not retriable:
                    raise error from None
                failures = self._retry_or_raise(error, failures)

    def _retry_or_raise(
        self, error: ExactError, failures: int, cause: BaseException | None = None
    ) -> int:
        failures += 1
        if failures > self.config.max_retries:
            if cause is not None:
                raise error from cause
            raise error
        delay = self._random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1)))
        what = f"{error.method} {error.endpoint} (division {error.division})"
        problem = error.status or type(error).__name__
        retries = f"{failures}/{self.config.max_retries}"
        logger.warning("%s: %s; retry %s in %.1f s", what, problem, retries, delay)
        self._sleep(delay)
        return failures

    def _headers(
        self, token: str | None, has_body: bool, extra: Mapping[str, str] | None
    ) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.config.user_agent}
        if has_body:
            headers["Content-Type"] = "application/json"
        for key, value in (extra or {}).items():
            if key.lower() not in _REFUSED_HEADERS:
                headers[key] = value
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _count(
        self, division: int | None, endpoint: str, method: str, status: int | None, started: float
    ) -> float:
        """Count one attempt and tell ``on_response``; its duration in seconds."""
        elapsed = time.monotonic() - started
        self.calls += 1
        endpoint = _KEY_SEGMENT.sub("", endpoint)
        self.calls_by_endpoint[(division, endpoint)] += 1
        if self.on_response is not None:
            self.on_response(RequestTiming(method, endpoint, division, status, elapsed))
        return elapsed

    # -- errors ----------------------------------------------------------------------------

    def _http_error(
        self, response: requests.Response, token: str | None, ctx: Mapping[str, Any]
    ) -> ExactError:
        status = response.status_code
        message = _redact(error_message(response.content), token)
        reason = _redact(response.headers.get("Reason"), token)
        said = f"{message or ''} {reason or ''}".lower()
        hint: str | None = None
        cls: type[ExactError]
        if status in (400, 405, 408):
            cls = ValidationError
            if status == 408:
                hint = "Exact found the request too broad: narrow the $filter or $select."
        elif status == 401:
            cls = AuthError
            hint = "Exact refused the access token twice; run `exact-online login` if it persists."
        elif status == 403:
            cls = PermissionDeniedError
            if "scope" in said:
                hint = SCOPE_HINT
            elif "wrongdivision" in said:
                hint = WRONG_DIVISION_HINT.format(division=ctx.get("division"))
        elif status == 404:
            cls = NotFoundError
        elif status == 429:
            cls = RateLimitError
            hint = "Exact kept answering 429 after waiting for the reset; try again later."
        elif status >= 500:
            cls = ServerError
        elif 300 <= status < 400:
            cls = ExactError
            hint = "Exact answered with a redirect: check base_url (region)."
        else:
            cls = ValidationError
        text = f"failed with {status} {response.reason or ''}".rstrip()
        return cls(text, status=status, exact_message=message, reason=reason, hint=hint, **ctx)


def path_problem(path: str) -> str | None:
    """What in a URL path could point a request elsewhere than it reads (None: nothing).

    Dot segments (``.``, ``..``, also percent-encoded, double-encoded or with ``;params``),
    encoded slashes and backslashes are refused rather than resolved: servers and clients
    disagree on them, and ``/api/v1/../oauth2/token`` must never get the bearer token.
    """
    if _CONTROL.search(path):
        return "contains control characters"
    for segment in path.split("/"):
        decoded = segment
        for _ in range(3):  # %252e%252e -> %2e%2e -> ..
            decoded = unquote(decoded)
        if "\\" in decoded or "/" in decoded:
            return "contains an encoded slash or a backslash"
        if decoded.split(";", 1)[0] in (".", ".."):
            return "contains a dot segment (. or ..)"
    return None


def _ctx(method: str, endpoint: str, division: int | None) -> dict[str, Any]:
    return {"method": method, "endpoint": endpoint, "division": division}


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme, 0)


def _with_params(url: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return url
    query = urlencode(
        [(str(k), str(v)) for k, v in params.items()], quote_via=quote, safe="$,'():/@"
    )
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _decode(response: requests.Response, method: str) -> Any:
    """Parsed JSON; None for 204 or an empty write response. ValueError for a broken body."""
    content = response.content
    if response.status_code == 204 or not content.strip():
        if method == "GET" and response.status_code != 204:
            raise ValueError("empty body")
        return None
    if content.startswith(_BOM):
        content = content[len(_BOM):]
    return _decoder.decode(content)  # msgspec.DecodeError is a ValueError


_BOM = b"\xef\xbb\xbf"
_decoder = msgspec.json.Decoder()
"""msgspec reads JSON pages about twice as fast as ``json.loads`` into the same Python values."""


def _never_connected(exc: Exception) -> bool:
    """True when the request cannot have reached Exact (connect timeout, refused, DNS)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        inner = exc.args[0]
        return isinstance(inner, MaxRetryError) and isinstance(inner.reason, NewConnectionError)
    return False


def _transport_message(exc: Exception, timeout: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s ({type(exc).__name__})"
    return f"the connection broke ({type(exc).__name__})"


def _redact(text: str | None, token: str | None) -> str | None:
    if text and token and token in text:
        return text.replace(token, "****")
    return text


def _with_context(exc: DailyLimitExceededError, ctx: Mapping[str, Any]) -> DailyLimitExceededError:
    return DailyLimitExceededError(exc.message, resets_at=exc.resets_at, status=exc.status, **ctx)


def _division_code(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise MalformedResponseError(
        f"current/Me did not give a CurrentDivision (got {excerpt(value, 40)})",
        method="GET",
        endpoint="current/Me",
    )
