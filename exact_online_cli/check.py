"""`exact-online check`: what the app may read (and, with --write, write) in each division."""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import asdict, dataclass
from typing import Any

from exact_online_cli._common import Context, add_command, division_arg, print_json
from exact_online_core.errors import ExactError, PermissionDeniedError

DESCRIPTION = """\
Check, before a sync fails halfway, that the app and the user may do what is configured.

For every unified model and custom stream, in every configured division, one cheap read
($top=1) tells whether the app can read it; where it cannot, the Exact scope to grant in
the App Center is named (e.g. logistics.items). With --write N it also creates and then
deletes a draft record of each writable model in division N (a company, a contact, an
item and a draft invoice, all named "exact-online check").

The exit status is 1 when anything checked is not allowed, so `check` fits in CI and in
start-up scripts."""

EPILOG = """\
examples:
  exact-online check --config exact.json
  exact-online check --config exact.json --json | jq '.[] | select(.allowed | not)'
  exact-online check --config exact.json --division 100002 --write 100002

After granting a scope in the Exact App Center, run `exact-online login` again so the user
consents to it."""


@dataclass(frozen=True)
class CheckRow:
    model: str
    division: int
    operation: str
    allowed: bool
    scope: str
    message: str


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = add_command(
        commands, "check",
        help="which models the app may read (and write) in which division",
        description=DESCRIPTION, epilog=EPILOG, parents=parents,
    )
    parser.add_argument("--division", type=division_arg, metavar="N",
                        help="check only this division (default: the configured divisions)")
    parser.add_argument("--write", type=division_arg, metavar="N",
                        help="also check writes: create and delete a draft of each writable "
                        "model in division N")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    context = Context.from_args(args)
    try:
        # One call first, so a missing or expired login is reported as such, not per model.
        me = context.api().client.me()
        user = me.get("FullName") or me.get("UserName")
        print(f"Checking app {context.config.client_id} as {user} ({me.get('Email')})",
              file=sys.stderr)
        rows = read_checks(context, args.division)
        if args.write is not None:
            rows.extend(write_checks(context, args.write))
    finally:
        context.close()
    if args.json:
        print_json([asdict(row) for row in rows])
    else:
        _table(rows)
    denied = [row for row in rows if not row.allowed]
    if denied:
        scopes = sorted({row.scope for row in denied if row.scope})
        print(f"{len(denied)} of {len(rows)} checks not allowed"
              + (f"; grant in the Exact App Center: {', '.join(scopes)}, then run "
                 "`exact-online login` again" if scopes else ""), file=sys.stderr)
        return 1
    return 0


def _streams(context: Context) -> list[str]:
    api = context.api()
    names = list(api.models())
    for stream in context.settings.get("custom_streams") or []:
        name = stream.get("name") if isinstance(stream, dict) else None
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def read_checks(context: Context, division: int | None) -> list[CheckRow]:
    api = context.api()
    rows: list[CheckRow] = []
    for code in context.divisions(division):
        for stream in _streams(context):
            result = api.probe(stream, code)
            rows.append(CheckRow(stream, code, "read", result.allowed, "" if result.allowed
                                 else result.scope, result.message))
    return rows


def write_checks(context: Context, division: int) -> list[CheckRow]:
    """Create and delete drafts; dependants (contact, invoice) use the draft company/item."""
    api = context.api()
    tag = secrets.token_hex(3).upper()
    rows: list[CheckRow] = []
    created: list[tuple[str, str]] = []

    def attempt(stream: str, record: dict[str, Any]) -> str | None:
        try:
            stored = api.create(stream, division, record)
        except ExactError as exc:
            rows.append(_denied(context, stream, division, exc))
            return None
        created.append((stream, str(stored["id"])))
        rows.append(CheckRow(stream, division, "write", True, "", ""))
        return str(stored["id"])

    name = f"exact-online check {tag} (safe to delete)"
    company = attempt("generic_company", {"name": name})
    item = attempt("accounting_invoice_item", {"code": f"EOCHECK{tag}", "name": name})
    if company is not None:
        attempt("generic_contact", {"company_id": company, "first_name": "exact-online",
                                    "last_name": f"check {tag}"})
        if item is not None:
            attempt("accounting_invoice", {
                "customer_company_id": company, "description": name,
                "line_items": [{"item_id": item, "quantity": 1, "price_per_unit": 0}],
            })
    for stream, record_id in reversed(created):
        try:
            api.delete(stream, division, record_id)
        except ExactError as exc:
            rows.append(CheckRow(stream, division, "delete", False,
                                 _manage_scope(context, stream),
                                 f"could not delete the draft {record_id}: {exc}"))
    return rows


def _manage_scope(context: Context, stream: str) -> str:
    from exact_online_core.mappings import MODELS

    model = MODELS.get(stream)
    return f"{model.scope}:manage" if model else ""


def _denied(context: Context, stream: str, division: int, exc: ExactError) -> CheckRow:
    scope = _manage_scope(context, stream) if isinstance(exc, PermissionDeniedError) else ""
    return CheckRow(stream, division, "write", False, scope, str(exc))


def _table(rows: list[CheckRow]) -> None:
    header = ("MODEL", "DIVISION", "OPERATION", "ALLOWED", "MISSING SCOPE", "MESSAGE")
    cells = [header] + [
        (r.model, str(r.division), r.operation, "yes" if r.allowed else "NO", r.scope,
         r.message) for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
              + "  " + row[-1])
