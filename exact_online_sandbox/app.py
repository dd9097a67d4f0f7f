"""The sandbox's WSGI app: werkzeug routing and the request pipeline of Exact's REST surface.

Pipeline for ``/api/v1/...``: count the call → faults → bearer token (401: empty body,
``WWW-Authenticate: Bearer``; Exact's 401 body was never captured, so the sandbox sends none)
→ error block (``errorblock.py``: 429 while the app is blocked on the endpoint)
→ division reachable (403 ``Forbidden - WrongDivision``) → rate limit (429, empty body) →
resolve (404) → method (405) → scope (403 ``Forbidden - Application Scope Violated``) →
backend → response with the six ``X-RateLimit-*`` headers; a 400/401/403/404 answered
is counted towards the error block (the one over the limit is answered with the block).
JSON only with ``Accept: application/json``; otherwise a minimal Atom/XML rendering, as Exact does.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from exact_online_reference.recorded import served
from exact_online_sandbox import faults as faultlib
from exact_online_sandbox.atom import atom, xml_error
from exact_online_sandbox.backend import Backend, Page, Query
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.control import CallLog, Control, call_key
from exact_online_sandbox.entities import ENTITIES, Resolved, resolve
from exact_online_sandbox.errorblock import COUNTED, ErrorBlock, Target, target_of
from exact_online_sandbox.errors import ExactApiError
from exact_online_sandbox.faults import Faults
from exact_online_sandbox.oauth import App, OAuth
from exact_online_sandbox.pages import collection_json, page_json, rows_json
from exact_online_sandbox.ratelimit import RateLimiter, minutely_headers
from exact_online_sandbox.responses import (
    bare_array,
    collection_body,
    collection_uri,
    format_value,
    me_body,
    render_row,
    render_target,
    single_body,
)
from exact_online_sandbox.schema import EntityDef, view_of
from exact_online_sandbox.sqlrows import row_sql, uri_opening
from exact_online_sandbox.store import Store
from exact_online_sandbox.webhooks import Webhooks

log = logging.getLogger("exact_online_sandbox")


def _me_entity() -> EntityDef:
    endpoint = served("current/Me")
    assert endpoint is not None
    return EntityDef(name="Me", key="UserID", key_type="guid",
                     type_name="Exact.Web.Api.Models.System.Me",
                     views={"plain": view_of(endpoint, "plain")}, scope="")


ME = _me_entity()

JSON_TYPE = "application/json; charset=utf-8"
PLAIN_PAGE, BULK_PAGE = 60, 1000
NULL_UNLESS_REPRESENTATION = frozenset({"Accounts", "Contacts", "Items"})
"""POST answers without ``Prefer: return=representation`` that carry only the key (and the
flags' defaults): recorded for crm/Accounts, crm/Contacts and logistics/Items. The recorded
POSTs of sales invoices, sales orders, purchase entries and documents answered in full."""
_URL_SAFE = "$',()*/@!-._~"


def _json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None
                   ) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status=status, headers=headers or {}, content_type=JSON_TYPE)


class SandboxApp:
    """All sandbox state behind one WSGI callable."""

    def __init__(self, *, db_path: str | None = None, seed: int | None = 42,
                 size: str | dict[str, int] = "small", scale: float = 1.0,
                 clock: Clock | None = None, divisions: int = 2) -> None:
        self.store = Store(db_path)
        self.clock = clock or Clock(scale)
        self.calls = CallLog(self.store, self.clock)
        self.calls.restore_clock()
        self.backend = Backend(self.store, self.clock, seed=seed, size=size,
                               divisions=divisions)
        self.limiter = RateLimiter(self.store, self.clock)
        self.errorblock = ErrorBlock(self.store, self.clock)
        self.oauth = OAuth(self.store, self.clock, self.limiter)
        self.faults = Faults(self.store)
        self.webhooks = Webhooks(self.store, self.clock, self.oauth, self.backend.user)
        self.backend.listeners.append(self.webhooks.on_change)
        self.page_sizes: dict[str, int | None] = {"plain": None, "bulk": None}
        """Rows a page lowered by tests (control API) for plain and for sync/bulk endpoints;
        None: Exact's own (the reference's page size of the endpoint)."""
        self.control = Control(self)
        self.topics = {e.webhook_topic for e in ENTITIES.values() if e.webhook_topic}
        self.url_map = Map([
            Rule("/api/oauth2/auth", endpoint="auth", methods=["GET"]),
            Rule("/api/oauth2/token", endpoint="token", methods=["POST"]),
            Rule("/api/v1/<path:rest>", endpoint="rest"),
        ], strict_slashes=False, merge_slashes=False)
        self.webhooks.start()

    def reset(self, *, seed: int | None = 42, size: str | dict[str, int] = "small",
              divisions: int = 2) -> None:
        """Wipe rows, tokens, counters, faults, subscriptions; re-seed ``divisions``
        divisions; default apps again."""
        self.backend.reset(seed=seed, size=size, divisions=divisions)
        self.oauth.reset(extra_scopes={e.scope for e in ENTITIES.values()})
        self.limiter.reset()
        self.errorblock.reset()
        self.faults.clear()
        self.webhooks.reset()
        self.calls.clear()
        self.page_sizes = {"plain": None, "bulk": None}

    def close(self) -> None:
        self.webhooks.stop()
        self.calls.save_clock()
        self.store.close()

    # ---- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sandbox/"):
            response = self.control.handle(request)
        elif request.path.startswith("/api/"):
            response = self._exact(request)
        else:
            response = Response("not found", status=404)
        log.info("%s %s %s", request.method, request.path, response.status_code)
        return response(environ, start_response)

    def _exact(self, request: Request) -> Response:
        """Exact's surface: call counting and faults around the real answer.

        A reset is counted before the connection drops: a client may read the call log the
        moment it sees the reset, before this thread unwinds.
        """
        key = call_key(request.method, request.path)
        status: str | None = "reset"
        try:
            fault = self.faults.take(request.method, request.path)
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.seconds)
                fault = None
            if fault is not None and fault.kind == "reset" and not fault.after:
                log.info("%s %s reset (fault)", request.method, request.path)
                self.calls.record(key, "reset")
                status = None
                faultlib.abort_connection(request.environ)
            if fault is not None and fault.kind == "status":
                response = Response(faultlib.status_body(fault.status, fault.message),
                                    status=fault.status, content_type=JSON_TYPE)
            elif fault is not None and fault.kind == "rate_limit":
                headers = minutely_headers(self.limiter.limits().minutely, 0, self.clock.now())
                response = Response(b"", status=429, headers=headers)
            else:
                response = self._dispatch(request)
                if fault is not None and fault.kind == "reset":
                    log.info("%s %s reset after answering (fault)", request.method, request.path)
                    self.calls.record(key, "reset")
                    status = None
                    faultlib.abort_connection(request.environ)
                elif fault is not None and fault.kind == "malformed":
                    response = Response(faultlib.MALFORMED_BODY, status=200,
                                        content_type=JSON_TYPE)
                elif fault is not None and fault.kind == "truncated":
                    response.set_data(faultlib.truncate(response.get_data()))
                    response.status_code = 200
            status = str(response.status_code)
            return response
        finally:
            if status is not None:
                self.calls.record(key, status)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/api/v1/") and len(path) > 8 and "//" not in path \
                and not path.endswith("/"):  # what the map's last rule matches, without it
            return self._rest(request, path[8:])
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            return _json_response(ExactApiError(405, "Method not allowed").body(), 405)
        except NotFound:
            return _json_response(ExactApiError(404, "Not found").body(), 404)
        if endpoint == "auth":
            return self._authorize(request)
        if endpoint == "token":
            return self._token(request)
        return self._rest(request, str(args["rest"]))

    # ---- OAuth endpoints ------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        args = request.args
        try:
            if args.get("response_type", "code") != "code":
                raise ValueError("response_type must be code")
            code = self.oauth.authorize(args.get("client_id", ""), args.get("redirect_uri", ""))
        except ValueError as exc:
            page = f"<html><body><h1>Bad Request</h1><p>{escape(str(exc))}</p></body></html>"
            return Response(page, status=400, content_type="text/html; charset=utf-8")
        params = {"code": code}
        if args.get("state") is not None:
            params["state"] = args["state"]
        target = args["redirect_uri"]
        sep = "&" if "?" in target else "?"
        return Response(status=302, headers={"Location": f"{target}{sep}{urlencode(params)}"})

    def _token(self, request: Request) -> Response:
        headers = {"Cache-Control": "private", "Pragma": "no-cache"}
        try:
            tokens = self.oauth.token({k: str(v) for k, v in request.form.items()})
        except ExactApiError as exc:
            return Response(exc.body_bytes(), status=exc.status,
                            headers={**exc.response_headers(), **headers})
        return _json_response(tokens, 200, headers)

    # ---- REST -------------------------------------------------------------------------------

    def _rest(self, request: Request, rest: str) -> Response:
        """Exact's answer, or its error block (``errorblock.py``) when the app earned one."""
        wants_json = "application/json" in request.headers.get("Accept", "")
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        target = target_of(rest)
        caller: list[str] = []  # the app's client id once the token is known
        response = self._answer(request, rest, token, wants_json, target, caller)
        if target is None or response.status_code not in COUNTED:
            return response
        client_id = caller[0] if caller else self.oauth.token_owner(token)
        block = self.errorblock.refused(client_id, target, response.status_code) \
            if client_id is not None else None
        return response if block is None else self._error(block, wants_json)

    def _answer(self, request: Request, rest: str, token: str, wants_json: bool,
                target: Target | None, caller: list[str]) -> Response:
        base_url = f"{request.scheme}://{request.host}"  # host_url without its IRI decoding
        self.webhooks.base_url = base_url
        extra: dict[str, str] = {}
        try:
            grant = self.oauth.authenticate(token)
            app = self.oauth.app(grant.client_id) if grant is not None else None
            if grant is None or app is None:
                return Response(b"", status=401, headers={"WWW-Authenticate": "Bearer"})
            caller.append(app.client_id)
            if target is not None and (block := self.errorblock.blocked(app.client_id, target)):
                return self._error(block, wants_json)  # a 429: never counted itself
            head, _, service = rest.partition("/")
            if head.lower() == "current" and service.lower() == "me":
                return self._me(request, base_url, wants_json)
            if head.lower() == "beta":  # /api/v1/beta/{division}/budget/BudgetScenarios
                head, _, tail = service.partition("/")
                service = f"beta/{{division}}/{tail}"
            if not head.isdigit():
                raise ExactApiError(404, "Not found")
            division = int(head)
            if division not in self.backend.reachable_divisions():
                raise ExactApiError(403, "Forbidden - WrongDivision")
            decision = self.limiter.hit(app.client_id, division)
            if not decision.allowed:
                return Response(b"", status=429, headers=decision.headers)
            extra = decision.headers
            resolved = resolve(service)
            if resolved is None:
                raise ExactApiError(404, "Not found")
            self._check_method(request.method, resolved)
            if not app.allows(resolved.entity.scope, request.method):
                raise ExactApiError(403, "Forbidden - Application Scope Violated")
            response = self._call(request, app, resolved, division, base_url, wants_json)
        except ExactApiError as exc:
            response = self._error(exc, wants_json)
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            response = self._error(ExactApiError(500, "An error has occurred."), wants_json)
        response.headers.update(extra)
        return response

    @staticmethod
    def _check_method(method: str, r: Resolved) -> None:
        if r.mode != "plain" or r.count or r.navigation:
            allowed = {"GET"}
        elif r.key is None:
            allowed = set(r.entity.methods) & {"GET", "POST"}
        else:
            allowed = set(r.entity.methods) & {"GET", "PUT", "DELETE"}
        if method not in allowed:
            raise ExactApiError(405, "Method not allowed",
                                headers={"Allow": ", ".join(sorted(allowed))})

    @staticmethod
    def _error(exc: ExactApiError, wants_json: bool) -> Response:
        if wants_json:
            return Response(exc.body_bytes(), status=exc.status, headers=exc.response_headers())
        headers = {k: v for k, v in exc.response_headers().items() if k != "Content-Type"}
        return Response(xml_error(exc.message), status=exc.status, headers=headers,
                        content_type="application/xml; charset=utf-8")

    @staticmethod
    def _render(payload: dict[str, Any], wants_json: bool, status: int = 200) -> Response:
        if wants_json:
            return _json_response(payload, status)
        return Response(atom(payload), status=status,
                        content_type="application/atom+xml; charset=utf-8")

    def _me(self, request: Request, base_url: str, wants_json: bool) -> Response:
        if request.method != "GET":
            raise ExactApiError(405, "Method not allowed")
        values = self.backend.me()
        view = ME.view("plain")
        row = {name: format_value(ftype, values.get(name)) for name, ftype in view.fields.items()}
        select = request.args.get("$select")
        if select:
            wanted = {s.strip() for s in select.split(",")}
            unknown = sorted(wanted - set(row) - {"*"})
            if unknown:
                raise ExactApiError(400, f"No property '{unknown[0]}' exists in type "
                                         f"'Exact.Web.Api.Models.System.Me'.")
            if "*" not in wanted:  # recorded: $select=CurrentDivision answers that alone
                row = {k: v for k, v in row.items() if k in wanted}
        return self._render(me_body(row, base_url), wants_json)

    @staticmethod
    def _query(request: Request) -> Query:
        args = request.args

        def number(name: str) -> int | None:
            text = args.get(name)
            if text is None or text == "":
                return None
            if not text.strip().isdigit():
                raise ExactApiError(400, f"Invalid {name} value: {text}")
            return int(text)

        def names(name: str) -> tuple[str, ...] | None:
            text = args.get(name)
            return tuple(s.strip() for s in text.split(",") if s.strip()) if text else None

        return Query(filter=args.get("$filter") or None, select=names("$select"),
                     orderby=args.get("$orderby") or None, top=number("$top"),
                     skip=number("$skip") or 0, skiptoken=args.get("$skiptoken") or None,
                     expand=names("$expand") or (),
                     inlinecount=args.get("$inlinecount", "").lower() == "allpages")

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ExactApiError(400, f"Error parsing request body: {exc}") from exc
        if not isinstance(body, dict):
            raise ExactApiError(400, "The request body must be a JSON object")
        return body

    def _call(self, request: Request, app: App, r: Resolved, division: int, base_url: str,
              wants_json: bool) -> Response:
        if r.entity.name == "WebhookSubscriptions":
            return self._subscriptions(request, app, r, division, base_url, wants_json)
        method = request.method
        if method == "GET":
            q = self._query(request)
            if r.count:
                count = self.backend.count(r, division, q.filter)
                return Response(str(count), content_type="text/plain; charset=utf-8")
            if r.key is not None and r.navigation is None:
                row = self.backend.get(r, division, q)
                rendered = render_row(r, row, base_url=base_url, division=division,
                                      select=q.select, expand=q.expand)
                return self._render(single_body(rendered), wants_json)
            page_size = r.entity.view(r.mode).page_size if r.navigation is None else PLAIN_PAGE
            lowered = self.page_sizes["plain" if r.mode == "plain" else "bulk"]
            page = self._page(r, division, q, min(page_size, lowered or page_size), base_url,
                              wants_json)
            next_url = self._next_url(request, base_url, page.next_params, q.top, page.count)
            bare = bare_array(r.mode, q.top, "$skip" in request.args, page_size,
                              q.skiptoken is not None)
            if page.body is not None:  # the hottest path: the page's JSON made by SQLite
                return Response(page_json(page.body, next_url, page.total, bare=bare),
                                content_type=JSON_TYPE)
            if wants_json and page.expanded is None:  # the hot path: JSON text from the store
                entity, mode = render_target(r)
                texts = rows_json(entity, mode, page.stored, base_url=base_url,
                                  division=division, select=q.select)
                return Response(collection_json(texts, next_url, page.total, bare=bare),
                                content_type=JSON_TYPE)
            rows = [render_row(r, row, base_url=base_url, division=division, select=q.select,
                               expand=q.expand) for row in page.rows]
            return self._render(collection_body(rows, next_url, page.total, bare=bare),
                                wants_json)
        if method == "POST":
            row = self.backend.create(r, division, self._body(request))
            rendered = render_row(r, row, base_url=base_url, division=division)
            prefer = request.headers.get("Prefer", "").lower()
            if (r.entity.name in NULL_UNLESS_REPRESENTATION
                    and "return=representation" not in prefer):
                flags = r.entity.main.flags
                rendered = {k: (v if k in ("__metadata", r.entity.key) or isinstance(v, dict)
                                else flags.get(k)) for k, v in rendered.items()}
            return self._render(single_body(rendered), wants_json, 201)
        if method == "PUT":
            self.backend.update(r, division, self._body(request))
        else:
            self.backend.delete(r, division)
        return Response(b"", status=204)

    def _page(self, r: Resolved, division: int, q: Query, page_size: int, base_url: str,
              wants_json: bool) -> Page:
        """A page of rows; a JSON sync page with a short ``$select`` rendered by SQLite."""
        entity, mode = render_target(r)
        render = row_sql(entity, mode, q.select) \
            if wants_json and r.navigation is None and not q.expand else None
        if render is None:
            return self.backend.page(r, division, q, page_size)
        opening = uri_opening(collection_uri(entity, mode, base_url, division))
        try:
            return self.backend.page(r, division, q, page_size,
                                     render=(render.sql, render.params(opening)))
        except sqlite3.OperationalError:  # a stored value SQLite's JSON cannot read (NaN)
            return self.backend.page(r, division, q, page_size)

    @staticmethod
    def _next_url(request: Request, base_url: str, next_params: dict[str, str] | None,
                  top: int | None, returned: int) -> str | None:
        """The request's URL with ``next_params`` applied and ``$top`` reduced."""
        if next_params is None:
            return None
        params: dict[str, str] = {}
        for name, value in request.args.items(multi=False):
            params[name] = value
        updates = dict(next_params)
        if top is not None:
            if top - returned <= 0:
                return None
            updates["$top"] = str(top - returned)
        if "$skiptoken" in updates:
            params.pop("$skip", None)
        params.update(updates)
        query = "&".join(f"{quote(k, safe=_URL_SAFE)}={quote(v, safe=_URL_SAFE)}"
                         for k, v in params.items())
        return f"{base_url}{quote(request.path, safe=_URL_SAFE)}?{query}"

    def _subscriptions(self, request: Request, app: App, r: Resolved, division: int,
                       base_url: str, wants_json: bool) -> Response:
        hooks = self.webhooks

        def render(row: dict[str, Any]) -> dict[str, Any]:
            return render_row(r.entity, row, base_url=base_url, division=division)

        method, key = request.method, r.key
        if method == "GET" and r.count:
            count = len(hooks.subscriptions(app.client_id, division))
            return Response(str(count), content_type="text/plain; charset=utf-8")
        if method == "GET" and key is None:
            rows = [render(s) for s in hooks.subscriptions(app.client_id, division)]
            return self._render(collection_body(rows, None), wants_json)
        if method == "GET":
            return self._render(single_body(render(hooks.get(app.client_id, division,
                                                             str(key)))), wants_json)
        if method == "POST":
            row = hooks.subscribe(app.client_id, division, self._body(request), self.topics)
            return self._render(single_body(render(row)), wants_json, 201)
        if method == "DELETE":
            hooks.delete(app.client_id, division, str(key))
            return Response(b"", status=204)
        raise ExactApiError(405, "Method not allowed")
