"""`exact-online proxy METHOD PATH`: any Exact endpoint, with auth, division, paging, errors."""

from __future__ import annotations

import argparse
from typing import Any

from exact_online_cli._common import (
    Context,
    add_command,
    division_arg,
    print_json,
    read_json_data,
)
from exact_online_core.errors import ValidationError
from exact_online_core.proxy import METHODS, proxy_request, resolve_path

DESCRIPTION = """\
Call any Exact Online REST endpoint with the stored login: the bearer token, the division
in the URL, rate-limit waits (429), retries and Exact's error messages are handled; the
answer is printed as JSON.

PATH is relative to /api/v1/{division}/ (crm/Accounts, sync/Deleted?$filter=...), or
current/Me, or a full /api/v1/... path or URL on the configured host (e.g. a __next link).
Anything else is refused before a request is made, so the token can never be sent
elsewhere: other hosts, ports or schemes, paths outside /api/v1 (such as the OAuth
endpoints), dot segments (/../, also percent-encoded), backslashes and control characters.

Without --all the response body is printed as Exact sends it (the "d" envelope); with --all
a GET follows every __next link and prints one JSON array of all rows."""

EPILOG = """\
examples:
  exact-online proxy GET current/Me
  exact-online proxy GET 'crm/Accounts?$select=ID,Name&$top=5' --division 100001
  exact-online proxy GET 'sync/Deleted?$filter=Timestamp gt 1L' --all
  exact-online proxy POST crm/Accounts --data '{"Name": "Acme BV"}'
  exact-online proxy PUT "crm/Accounts(guid'7c3a...')" --data '{"Phone": "030 123 4567"}'
  exact-online proxy DELETE "crm/Accounts(guid'7c3a...')"

Quote the path in the shell: $filter, $select and guid'...' contain characters shells
interpret."""


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = add_command(
        commands, "proxy",
        help="call any Exact REST endpoint with auth handled (JSON out)",
        description=DESCRIPTION, epilog=EPILOG, parents=parents,
    )
    parser.add_argument("method", metavar="METHOD", type=str.upper, choices=METHODS,
                        help=f"one of {', '.join(METHODS)}")
    parser.add_argument("path", metavar="PATH", help="endpoint, e.g. crm/Accounts")
    parser.add_argument("--data", metavar="JSON",
                        help="request body for POST/PUT: JSON, @file.json or - for stdin")
    parser.add_argument("--division", type=division_arg, metavar="N",
                        help="Exact division code (default: the first configured division, "
                        "else your current division)")
    parser.add_argument("--all", action="store_true", dest="all_pages",
                        help="GET: follow __next and print every row as one JSON array")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    context = Context.from_args(args)
    # Refuse a bad path before anything else: no token is read or requested for it.
    target = resolve_path(context.config.base_url, args.path)
    body = read_json_data(args.data) if args.data is not None else None
    if args.method in ("POST", "PUT") and body is None:
        raise ValidationError(f"{args.method} needs a body: --data '{{...}}'")
    division = args.division
    if division is None and target.division is None and not _no_division(target.path):
        configured = context.config.divisions
        if isinstance(configured, list) and configured:
            division = configured[0]
    try:
        result = proxy_request(context.client(), args.method, args.path, body=body,
                               division=division, all_pages=args.all_pages)
    finally:
        context.close()
    if result is not None:
        print_json(result)
    return 0


def _no_division(path: str) -> bool:
    return path.split("?", 1)[0].lower().startswith("current/")
