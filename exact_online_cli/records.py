"""`exact-online records MODEL list|get|create|update|delete`: unified records as JSON."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from exact_online_cli._common import (
    Context,
    Formatter,
    add_command,
    division_arg,
    print_json,
    read_json_object,
)
from exact_online_core.errors import ValidationError
from exact_online_core.mappings import MODELS, get_model, refuse_operation
from exact_online_core.mappings.converters import parse_rfc3339

if TYPE_CHECKING:
    from exact_online_core.api import ExactOnline

OPERATIONS = {"get": "retrieve"}
"""CLI action → model operation where the names differ."""

DESCRIPTION = """\
List, retrieve, create, update and delete records of a unified model, as JSON, with the same
mapping tables as the tap and the target (field_mappings and custom_streams from the config
apply). MODEL is a stream name (or a custom stream from the config):

{models}

Writes are refused before any call where Exact has no write API (generic_user,
generic_workspace) or does not allow it (invoices once processed)."""

EPILOG = """\
examples:
  exact-online records generic_company list --limit 5
  exact-online records generic_company list --filter "City eq 'Utrecht'" --division 100001
  exact-online records generic_user list --since 2024-01-01T00:00:00Z --array
  exact-online records generic_company get 7c3a...-... --division 100001
  exact-online records generic_company create --data '{"name": "Acme BV", "code": "ACME"}'
  echo '{"phone": "+31 30 123 4567"}' | exact-online records generic_company update 7c3a...
  exact-online records generic_company delete 7c3a... --division 100001

Single-record commands use --division, or the only configured division."""

ACTIONS_EPILOG = {
    "list": """\
Prints one JSON record per line (JSON Lines), or one JSON array with --array. Without
--division every configured division is listed.

examples:
  exact-online records generic_company list --limit 10
  exact-online records accounting_invoice list --filter "Status eq 20" --array
  exact-online records generic_contact list --since 12345678  # an Exact row Timestamp""",
    "get": """\
example:
  exact-online records generic_company get 5d4a3b2c-0000-4000-8000-000000000001""",
    "create": """\
The record is a JSON object of unified properties, from --data, --data @file.json or stdin.
Prints the stored record as Exact returns it.

examples:
  exact-online records generic_company create --data '{"name": "Acme BV"}'
  exact-online records accounting_invoice_item create --data @item.json --division 100002""",
    "update": """\
Only the properties given are sent (PUT); prints the stored record afterwards.

example:
  exact-online records generic_company update 5d4a... --data '{"email": "info@acme.nl"}'""",
    "delete": """\
example:
  exact-online records generic_company delete 5d4a... --division 100001""",
}


def _model_lines() -> str:
    return "\n".join(f"  {name:<30}{model.description}" for name, model in MODELS.items())


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = add_command(
        commands, "records",
        help="list/get/create/update/delete unified records (JSON in and out)",
        description=DESCRIPTION.format(models=_model_lines()), epilog=EPILOG, parents=parents,
    )
    parser.add_argument("model", metavar="MODEL", help="unified model or custom stream name")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name, help=help, description=help[0].upper() + help[1:] + ".",
            epilog=ACTIONS_EPILOG[name], parents=parents, formatter_class=Formatter,
        )
        sub.add_argument("--division", type=division_arg, metavar="N",
                         help="Exact division code")
        sub.set_defaults(func=run)
        return sub

    listing = action("list", "list records, newest changes last")
    listing.add_argument("--filter", metavar="ODATA",
                         help="an OData $filter on Exact property names, "
                         "e.g. \"City eq 'Utrecht'\"")
    listing.add_argument("--since", metavar="BOOKMARK",
                         help="only records changed after this: an Exact row Timestamp "
                         "(integer) for models read from a sync endpoint, an RFC 3339 "
                         "date-time for generic_user and with --filter; anything else is "
                         "refused")
    listing.add_argument("--limit", type=int, metavar="N", help="stop after N records")
    listing.add_argument("--properties", metavar="A,B",
                         help="only these unified properties (id and division always)")
    listing.add_argument("--array", action="store_true",
                         help="print one JSON array instead of JSON Lines")
    get = action("get", "retrieve one record by id")
    get.add_argument("id", metavar="ID")
    create = action("create", "create a record from JSON")
    create.add_argument("--data", metavar="JSON", help="the record: JSON, @file or - for stdin "
                        "(default: stdin)")
    update = action("update", "update some properties of a record")
    update.add_argument("id", metavar="ID")
    update.add_argument("--data", metavar="JSON", help="the changed properties: JSON, @file or "
                        "- for stdin (default: stdin)")
    delete = action("delete", "delete a record")
    delete.add_argument("id", metavar="ID")


def run(args: argparse.Namespace) -> int:
    context = Context.from_args(args)
    try:
        api = context.api()
        stream = args.model
        if args.action == "list":
            return _list(context, args)
        if api.custom_stream(stream) is None:  # what Exact forbids, before asking a division
            refuse_operation(get_model(stream), OPERATIONS.get(args.action, args.action))
        division = context.one_division(args.division)
        if args.action == "get":
            print_json(api.retrieve(stream, division, args.id))
        elif args.action == "create":
            print_json(api.create(stream, division, read_json_object(args.data), strict=True))
        elif args.action == "update":
            print_json(api.update(stream, division, args.id, read_json_object(args.data),
                                  strict=True))
        elif args.action == "delete":
            api.delete(stream, division, args.id)
            print_json({"deleted": True, "model": stream, "division": division, "id": args.id})
        return 0
    finally:
        context.close()


def _list(context: Context, args: argparse.Namespace) -> int:
    api = context.api()
    since = _since(api, args.model, args.since, args.filter)
    properties = [p.strip() for p in args.properties.split(",")] if args.properties else None
    if args.limit is not None and args.limit < 0:
        raise ValidationError("--limit must be 0 or more")
    remaining = args.limit
    collected: list[dict[str, Any]] = []
    for division in context.divisions(args.division):
        if remaining is not None and remaining <= 0:
            break
        for record in api.list(args.model, division, filter=args.filter, since=since,
                               properties=properties, limit=remaining):
            if args.array:
                collected.append(record)
            else:
                print_json(record, compact=True)
                sys.stdout.flush()
            if remaining is not None:
                remaining -= 1
                if remaining <= 0:
                    break
    if args.array:
        print_json(collected)
    return 0


def _bookmark(api: ExactOnline, stream: str, filter: str | None) -> str | None:
    """How ``list`` reads ``since`` for this stream: ``timestamp``, ``date`` or None (whole).

    Mirrors the core's routing: sync endpoints are bookmarked by row Timestamp, plain ones
    (a filter, users, custom Modified streams) by date; invoice lines always by Timestamp.
    """
    custom = api.custom_stream(stream)
    if custom is not None:
        return {"Timestamp": "timestamp", "Modified": "date"}.get(custom.replication_key or "")
    model = get_model(stream)
    if model.read_kind == "sync":
        by_date = filter and model.name != "accounting_invoice_line_item"
        return "date" if by_date else "timestamp"
    return "date" if model.read_kind == "modified" else None


def _since(api: ExactOnline, stream: str, text: str | None,
           filter: str | None) -> int | str | None:
    """``--since`` checked against what the stream is bookmarked by; refused if ignored."""
    if text is None:
        return None
    value = text.strip()
    kind = _bookmark(api, stream, filter)
    if kind is None:
        raise ValidationError(f"--since {text!r}: {stream} has no bookmark (it is read whole "
                              "every time); leave --since out")
    if value.isdigit():
        if kind == "date":
            raise ValidationError(
                f"--since {text!r}: {stream} is read by date here (updated_at): give an RFC "
                "3339 date-time such as 2024-01-01T00:00:00Z")
        return int(value)
    try:
        parse_rfc3339(value)
    except ValueError:
        raise ValidationError(
            f"--since {text!r} is neither an Exact row Timestamp (a whole number such as "
            "123456789) nor an RFC 3339 date-time (such as 2024-01-01T00:00:00Z)") from None
    if kind == "timestamp":
        hint = (" or add --filter to read the plain endpoint, which takes a date"
                if api.custom_stream(stream) is None and get_model(stream).name
                != "accounting_invoice_line_item" else "")
        raise ValidationError(
            f"--since {text!r}: {stream} is read from a sync endpoint, bookmarked by row "
            f"Timestamp (exact_timestamp), not by date: give a Timestamp (an integer){hint}")
    return value
