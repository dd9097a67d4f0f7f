"""`exact-online login`: the OAuth authorization-code flow with the user's own app."""

from __future__ import annotations

import argparse
import html
import re
import stat
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from exact_online_cli._common import Context, add_command
from exact_online_core.auth import TokenBroker, broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.errors import AuthError, ConfigError, ExactError
from exact_online_core.http import ExactClient
from exact_online_core.listen import make_threaded_server
from exact_online_core.login import LoginRequest, finish_login, start_login
from exact_online_core.odata import strip_metadata

DESCRIPTION = """\
Sign in to Exact Online with your own app (the OAuth authorization-code flow) and store
the tokens that every other command, the tap and the target use.

How the authorization code comes back:
  * redirect_uri on this machine (http://127.0.0.1:PORT/..., http://localhost:PORT/...):
    login listens on that host and port, opens the consent page in your browser (or prints
    it, with --no-browser) and catches Exact's redirect by itself.
  * any other redirect_uri, or --paste (headless machines): sign in with any browser, then
    paste the URL the browser was sent to (the page itself may fail to load; the address
    bar is what counts).
  * --auto-consent: no browser, no listener and no person. login fetches the consent URL
    itself and reads the redirect it answers with. Only a server that approves without a
    person (the sandbox) allows this; real Exact Online answers with its sign-in page and
    login tells you so.

Then the code is exchanged (codes are single use and live 3 minutes), the token store is
written atomically with mode 0600 (setting token_store), and login shows who is logged in
(current/Me) and which divisions are reachable (system/Divisions). Tokens are never
printed."""

EPILOG = """\
examples:
  exact-online login --config exact.json                  # browser + loopback listener
  exact-online login --config exact.json --paste          # headless: paste the redirect URL
  exact-online login --config sandbox.json --auto-consent # the sandbox, no person needed
  EXACT_ONLINE_CLIENT_SECRET=... exact-online login --config exact.json --force-login

Register the redirect URI exactly as configured with your app in the Exact App Center
(e.g. http://127.0.0.1:8765/callback for a local login)."""

SUCCESS_PAGE = (
    "<!doctype html><html><body><h1>Exact Online login received</h1>"
    "<p>You can close this tab and return to the terminal.</p></body></html>"
)


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = add_command(
        commands, "login",
        help="sign in with your app (OAuth) and store the tokens",
        description=DESCRIPTION, epilog=EPILOG, parents=parents,
    )
    parser.add_argument("--paste", action="store_true",
                        help="paste the redirected URL instead of running a loopback listener")
    parser.add_argument("--no-browser", action="store_true",
                        help="only print the consent URL; do not open a browser")
    parser.add_argument("--auto-consent", action="store_true",
                        help="fetch the consent URL without a browser and follow its redirect "
                        "(servers that approve by themselves: the sandbox)")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="how long to wait for the redirect (default 300)")
    parser.add_argument("--force-login", action="store_true",
                        help="ask Exact to show its sign-in page even if a session exists "
                        "(to log in as another user)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    context = Context.from_args(args)
    config = context.config
    if not config.redirect_uri:
        raise ConfigError("redirect_uri", "is required to log in (your app's redirect URI)")
    broker = broker_from_config(config)
    request = start_login(config, force_login=args.force_login)
    loopback = _loopback(config.redirect_uri)
    if args.auto_consent:
        print(f"Fetching the consent page {config.auth_url} without a browser", file=sys.stderr)
        redirect = _auto_consent(request, config)
    elif args.paste or loopback is None:
        redirect = _paste_flow(request, args)
    else:
        redirect = _listener_flow(request, config, args, loopback)
    finish_login(broker, request, redirect)
    with ExactClient(config, broker) as client:
        _show_login(client, config, stored_where(config, broker))
    return 0


def _loopback(redirect_uri: str) -> tuple[str, int] | None:
    """(bind host, port) when the redirect URI is plain http on this machine."""
    parts = urlsplit(redirect_uri)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http":
        return None
    if host == "localhost" or host.startswith("127."):
        bind = "127.0.0.1" if host == "localhost" else host
    elif host == "::1":
        bind = "::1"
    else:
        return None
    return bind, parts.port or 80


def _announce(request: LoginRequest, args: argparse.Namespace) -> None:
    print("Open this URL to sign in to Exact Online and approve the app:", file=sys.stderr)
    print(f"  {request.url}", file=sys.stderr, flush=True)
    if not args.no_browser:
        try:
            opened = webbrowser.open(request.url)
        except webbrowser.Error:
            opened = False
        if opened:
            print("(opened in your browser)", file=sys.stderr, flush=True)


def _paste_flow(request: LoginRequest, args: argparse.Namespace) -> str:
    _announce(request, args)
    print("After approving, paste the full URL your browser was redirected to "
          f"(it starts with {request.redirect_uri}):", file=sys.stderr, flush=True)
    try:
        line = sys.stdin.readline()
    except UnicodeDecodeError:
        raise AuthError("What was pasted is not text (UTF-8); paste the redirect URL") from None
    if not line.strip():
        raise AuthError("No redirect URL was pasted; run `exact-online login` again")
    return line.strip()


def _listener_flow(request: LoginRequest, config: ExactConfig, args: argparse.Namespace,
                   address: tuple[str, int]) -> str:
    listener = _RedirectListener(request)
    try:
        server = make_threaded_server(address[0], address[1], listener, _QuietHandler)
    except OSError as exc:
        raise AuthError(
            f"Cannot listen on {address[0]}:{address[1]} for the redirect ({exc.strerror}); "
            "stop what uses that port, or run `exact-online login --paste`"
        ) from None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="login-redirect", daemon=True)
    thread.start()
    try:
        print(f"Waiting for Exact's redirect on {request.redirect_uri}", file=sys.stderr)
        _announce(request, args)
        if not listener.done.wait(args.timeout):
            raise AuthError(
                f"No redirect arrived within {args.timeout:g} s; run `exact-online login` again "
                "(or use --paste)"
            )
    finally:
        _stop(server, thread)
    assert listener.url is not None
    return listener.url


def _stop(server: BaseWSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _auto_consent(request: LoginRequest, config: ExactConfig) -> str:
    """Be the user agent: GET the consent URL and take the redirect it answers with.

    No listener is needed (the redirect is read from the Location header), so this also works
    when the redirect URI's port is taken, e.g. by the sandbox itself."""
    try:
        consent = requests.get(request.url, allow_redirects=False, timeout=config.timeout)
    except requests.RequestException as exc:
        raise AuthError(f"Could not reach the consent page ({type(exc).__name__})") from None
    location = consent.headers.get("Location", "")
    target = urljoin(request.url, location) if location else ""
    if 400 <= consent.status_code < 600:
        raise AuthError(
            f"The consent page refused the request with {consent.status_code}: "
            f"{_page_text(consent.text)} (check client_id and that redirect_uri is exactly the "
            "app's registered redirect URI)"
        )
    if consent.status_code not in (301, 302, 303, 307) or not _same_endpoint(
        target, request.redirect_uri
    ):
        raise AuthError(
            f"The consent page answered {consent.status_code} without redirecting to the "
            "redirect URI: it needs a person to sign in. Run login without --auto-consent "
            "(browser) or with --paste."
        )
    return target


def _page_text(page: str) -> str:
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    return html.unescape(text)[:200] or "(empty page)"


def _same_endpoint(url: str, redirect_uri: str) -> bool:
    a, b = urlsplit(url), urlsplit(redirect_uri)
    return (a.scheme, a.netloc.lower(), a.path) == (b.scheme, b.netloc.lower(), b.path)


class _RedirectListener:
    """WSGI app on the redirect URI: keeps the first redirect carrying our state."""

    def __init__(self, request: LoginRequest) -> None:
        self.request = request
        self.path = urlsplit(request.redirect_uri).path or "/"
        self.url: str | None = None
        self.done = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        http_request = Request(environ)
        response = self._answer(http_request)
        return response(environ, start_response)

    def _answer(self, http_request: Request) -> Response:
        if http_request.path != self.path or self.done.is_set():
            return Response("Not found", status=404)
        params = parse_qs(urlsplit(http_request.url).query)
        if params.get("state") != [self.request.state]:
            return Response("This redirect does not belong to the running login.", status=400)
        self.url = http_request.url
        self.done.set()
        if "error" in params:
            text = html.escape(params["error"][0])
            return Response(f"<h1>Exact Online refused the consent: {text}</h1>", status=400,
                            mimetype="text/html")
        return Response(SUCCESS_PAGE, mimetype="text/html")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None  # the access log would print the authorization code


def stored_where(config: ExactConfig, broker: TokenBroker) -> str:
    """Where the login's tokens are: the file and its mode, or the database row."""
    if isinstance(config.token_store, Path):
        mode = stat.S_IMODE(config.token_store.stat().st_mode)
        return f"{config.token_store} (mode {mode:o})"
    return str(broker.store)


def _show_login(client: ExactClient, config: ExactConfig, where: str) -> None:
    me = client.me()
    name = me.get("FullName") or me.get("UserName") or me.get("UserID")
    email = me.get("Email")
    print(f"Logged in as {name}" + (f" <{email}>" if email else "")
          + f" with app {config.client_id}")
    print(f"Tokens stored in {where}")
    current = client.current_division()
    print(f"Current division: {current}")
    try:
        rows = [strip_metadata(row) for row in client.iter_rows(
            "system/Divisions", division=current,
            params={"$select": "Code,Description,Country,Currency,Status"})]
    except ExactError as exc:
        print(f"Reachable divisions: cannot list them ({exc})")
        return
    print("Reachable divisions:")
    for row in rows:
        marker = "  (current)" if str(row.get("Code")) == str(current) else ""
        print(f"  {row.get('Code')}  {row.get('Description') or ''}  "
              f"{(row.get('Country') or '').strip()} {row.get('Currency') or ''}{marker}")
