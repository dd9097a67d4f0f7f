"""The ``/_sandbox/`` admin API (never part of Exact's surface): reset, clock, faults, limits, apps.

Also holds the call log (every Exact-surface request counted by ``"METHOD service/path"``, the
path as sent minus division and keys, and by status) and the persisted clock, so a restart on
the same data directory resumes at the sandbox time it had reached.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from exact_online_sandbox.clock import Clock
from exact_online_sandbox.errors import ExactApiError
from exact_online_sandbox.oauth import App
from exact_online_sandbox.store import Store

if TYPE_CHECKING:
    from exact_online_sandbox.app import SandboxApp

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sb_calls (
    endpoint TEXT NOT NULL, status TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (endpoint, status)
);
CREATE TABLE IF NOT EXISTS sb_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1), now REAL NOT NULL, scale REAL NOT NULL
);
"""
_KEYS = re.compile(r"\([^)]*\)")


def call_key(method: str, api_path: str) -> str:
    """``GET /api/v1/100001/crm/Accounts(guid'…')`` → ``GET crm/Accounts``."""
    rest = api_path
    if rest.startswith("/api/v1/"):
        rest = rest[len("/api/v1/"):]
        head, _, tail = rest.partition("/")
        if head.isdigit():
            rest = tail
    elif rest.startswith("/api/"):
        rest = rest[len("/api/"):]
    return f"{method.upper()} {_KEYS.sub('', rest).strip('/')}"


class CallLog:
    """Request counters plus the persisted sandbox time (written with every count)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        store.ensure_schema(_SCHEMA)

    def restore_clock(self) -> None:
        """Move the clock forward to the persisted time and scale (a restart keeps time)."""
        with self._store.transaction() as conn:
            row = conn.execute("SELECT now, scale FROM sb_clock").fetchone()
        if row is None:
            return
        now, scale = float(row[0]), float(row[1])
        if now > self._clock.now():
            self._clock.advance(now - self._clock.now())
        if scale != self._clock.scale:
            self._clock.set_scale(scale)

    def save_clock(self) -> None:
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO sb_clock VALUES (1, ?, ?)",
                         (self._clock.now(), self._clock.scale))

    def record(self, endpoint: str, status: str) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO sb_calls VALUES (?, ?, 1) ON CONFLICT (endpoint, status) "
                "DO UPDATE SET count = count + 1", (endpoint, status))
            conn.execute("INSERT OR REPLACE INTO sb_clock VALUES (1, ?, ?)",
                         (self._clock.now(), self._clock.scale))

    def summary(self) -> dict[str, Any]:
        with self._store.transaction() as conn:
            rows = conn.execute("SELECT endpoint, status, count FROM sb_calls").fetchall()
        by_endpoint: dict[str, int] = {}
        by_status: dict[str, int] = {}
        detail: dict[str, dict[str, int]] = {}
        for endpoint, status, count in rows:
            by_endpoint[endpoint] = by_endpoint.get(endpoint, 0) + int(count)
            by_status[status] = by_status.get(status, 0) + int(count)
            detail.setdefault(endpoint, {})[status] = int(count)
        return {"total": sum(by_endpoint.values()), "by_endpoint": by_endpoint,
                "by_status": by_status, "by_endpoint_status": detail}

    def clear(self) -> None:
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sb_calls")


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ExactApiError(400, f"{name} must be an integer") from exc


class Control:
    """Dispatches ``/_sandbox/...`` requests to the sandbox's parts."""

    def __init__(self, sandbox: SandboxApp) -> None:
        self.sb = sandbox
        self.url_map = Map([
            Rule("/_sandbox/health", endpoint="health", methods=["GET"]),
            Rule("/_sandbox/reset", endpoint="reset", methods=["POST"]),
            Rule("/_sandbox/clock", endpoint="clock", methods=["GET", "POST"]),
            Rule("/_sandbox/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
            Rule("/_sandbox/limits", endpoint="limits", methods=["GET", "POST"]),
            Rule("/_sandbox/apps", endpoint="apps", methods=["GET", "POST"]),
            Rule("/_sandbox/grants", endpoint="grants", methods=["POST"]),
            Rule("/_sandbox/grants/revoke", endpoint="revoke", methods=["POST"]),
            Rule("/_sandbox/payments", endpoint="payments", methods=["POST"]),
            Rule("/_sandbox/calls", endpoint="calls", methods=["GET", "DELETE"]),
            Rule("/_sandbox/rows", endpoint="rows", methods=["GET"]),
            Rule("/_sandbox/webhooks/deliveries", endpoint="deliveries",
                 methods=["GET", "DELETE"]),
        ], strict_slashes=False)

    def handle(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, _args = adapter.match()
            body: dict[str, Any] = {}
            if request.method == "POST" and request.get_data():
                parsed = json.loads(request.get_data())
                if not isinstance(parsed, dict):
                    raise ExactApiError(400, "the body must be a JSON object")
                body = parsed
            handler = getattr(self, f"_{endpoint}")
            result: Response = handler(request, body)
            return result
        except json.JSONDecodeError:
            return _json({"error": "the body is not valid JSON"}, 400)
        except ExactApiError as exc:
            return _json({"error": exc.message}, exc.status)
        except (ValueError, KeyError) as exc:
            return _json({"error": str(exc)}, 400)
        except MethodNotAllowed:
            return _json({"error": "method not allowed"}, 405)
        except NotFound:
            return _json({"error": f"no control endpoint {request.path}"}, 404)
        except HTTPException as exc:
            return _json({"error": str(exc)}, exc.code or 500)

    # ---- endpoints ------------------------------------------------------------------------

    def _health(self, request: Request, body: dict[str, Any]) -> Response:
        return _json({"ok": True})

    def _reset(self, request: Request, body: dict[str, Any]) -> Response:
        seed = body.get("seed", 42)
        size = body.get("size", "small")
        if seed is not None:
            seed = _int(seed, "seed")
        if not isinstance(size, str | dict):
            raise ExactApiError(400, "size is 'small' or an object of counts")
        divisions = _int(body.get("divisions", 2), "divisions")
        self.sb.reset(seed=seed, size=size, divisions=divisions)
        return _json({"ok": True, "seed": seed, "size": size, "divisions": divisions})

    def _clock(self, request: Request, body: dict[str, Any]) -> Response:
        clock = self.sb.clock
        if request.method == "POST":
            if "advance" in body:
                clock.advance(float(body["advance"]))
            if "scale" in body:
                clock.set_scale(float(body["scale"]))
            self.sb.calls.save_clock()
            self.sb.webhooks.poke()
        return _json({"now": clock.now(), "scale": clock.scale})

    def _faults(self, request: Request, body: dict[str, Any]) -> Response:
        faults = self.sb.faults
        if request.method == "POST":
            return _json({"id": faults.add(body).id}, 201)
        if request.method == "DELETE":
            faults.clear()
            return _json({"ok": True})
        return _json({"faults": [f.public() for f in faults.list()]})

    def _limits(self, request: Request, body: dict[str, Any]) -> Response:
        limiter = self.sb.limiter
        if request.method == "POST":
            values = {k: _int(body[k], k) for k in ("minutely", "daily", "token_daily")
                      if k in body}
            limits = limiter.set_limits(**values)
            if "errors_hourly" in body:  # refused calls an hour before the block; 0: off
                self.sb.errorblock.set_limit(_int(body["errors_hourly"], "errors_hourly"))
            for key, mode in (("page_size", "bulk"), ("plain_page_size", "plain")):
                if key in body:  # rows a page, at most Exact's; null: Exact's again
                    size = None if body[key] is None else _int(body[key], key)
                    if size is not None and size < 1:
                        raise ExactApiError(400, f"{key} must be at least 1")
                    self.sb.page_sizes[mode] = size
        else:
            limits = limiter.limits()
        return _json({"minutely": limits.minutely, "daily": limits.daily,
                      "token_daily": limits.token_daily,
                      "errors_hourly": self.sb.errorblock.limit(),
                      "error_blocks": self.sb.errorblock.state(),
                      "page_size": self.sb.page_sizes["bulk"],
                      "plain_page_size": self.sb.page_sizes["plain"]})

    def _apps(self, request: Request, body: dict[str, Any]) -> Response:
        oauth = self.sb.oauth
        if request.method == "GET":
            return _json({"apps": [a.public() for a in oauth.apps()]})
        missing = [k for k in ("client_id", "client_secret", "redirect_uri") if not body.get(k)]
        if missing:
            raise ExactApiError(400, f"missing: {', '.join(missing)}")
        scopes = body.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ExactApiError(400, "scopes is a list of '<area>.<scope>:<read|manage>'")
        app = App(str(body["client_id"]), str(body["client_secret"]), str(body["redirect_uri"]),
                  str(body.get("webhook_secret", "")), tuple(scopes))
        oauth.register_app(app)
        return _json(app.public(), 201)

    def _grants(self, request: Request, body: dict[str, Any]) -> Response:
        client_id = str(body.get("client_id", "sandbox-client"))
        return _json({"refresh_token": self.sb.oauth.mint_grant(client_id)}, 201)

    def _revoke(self, request: Request, body: dict[str, Any]) -> Response:
        client_id = str(body.get("client_id", "sandbox-client"))
        return _json({"revoked": self.sb.oauth.revoke(client_id)})

    def _payments(self, request: Request, body: dict[str, Any]) -> Response:
        division = _int(body.get("division", 100001), "division")
        invoice_id = body.get("invoice_id")
        if not isinstance(invoice_id, str):
            raise ExactApiError(400, "invoice_id is required")
        amount = body.get("amount")
        result = self.sb.backend.book_payment(
            division, invoice_id.lower(), float(amount) if amount is not None else None)
        return _json(result, 201)

    def _calls(self, request: Request, body: dict[str, Any]) -> Response:
        if request.method == "DELETE":
            self.sb.calls.clear()
            return _json({"ok": True})
        return _json(self.sb.calls.summary())

    def _rows(self, request: Request, body: dict[str, Any]) -> Response:
        entity = request.args.get("entity")
        if not entity:
            raise ExactApiError(400, "entity is required, e.g. crm/Accounts")
        division = _int(request.args.get("division", 100001), "division")
        return _json({"count": self.sb.backend.row_count(entity, division)})

    def _deliveries(self, request: Request, body: dict[str, Any]) -> Response:
        if request.method == "DELETE":
            self.sb.webhooks.reset_log()
            return _json({"ok": True})
        return _json({"deliveries": self.sb.webhooks.deliveries(),
                      "pending": self.sb.webhooks.pending()})
