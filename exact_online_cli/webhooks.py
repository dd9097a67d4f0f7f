"""`exact-online webhooks subscribe|list|unsubscribe|serve`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from exact_online_cli._common import (
    Context,
    Formatter,
    add_command,
    division_arg,
    print_json,
)
from exact_online_core.errors import ValidationError
from exact_online_core.webhook_log import EventLog
from exact_online_core.webhook_receiver import MAX_BODY, Receiver
from exact_online_core.webhook_server import READ_TIMEOUT, WORKERS, make_receiver_server
from exact_online_core.webhooks import TOPICS, WebhookSubscriptions, topic_for_model

_TOPIC_LINES = "\n".join(f"  {model:<26}{topic}" for model, topic in TOPICS.items())

DESCRIPTION = f"""\
Exact Online's webhooks for the unified models: manage the app's subscriptions
(webhooks/WebhookSubscriptions) and run the receiver that turns Exact's notifications into
unified events in a durable log.

Models and their Exact topics (other models have no webhooks):
{_TOPIC_LINES}

Exact requires an https CallbackURL on the same domain as the app's redirect URI, and POSTs
an empty body to it when subscribing: start `webhooks serve` (behind your https proxy)
before `webhooks subscribe`."""

EPILOG = """\
examples:
  exact-online webhooks serve --port 8080 --log events.jsonl &
  exact-online webhooks subscribe --model generic_company \\
      --callback-url https://hooks.example.com/exact
  exact-online webhooks list
  exact-online webhooks unsubscribe --model generic_company \\
      --callback-url https://hooks.example.com/exact

Run `exact-online webhooks SUBCOMMAND --help` for each subcommand."""

SERVE_DESCRIPTION = """\
Receive Exact Online's webhook notifications and append them, as unified events, to an
event log (JSON Lines, one event per line, fsync'd).

For every POST the receiver:
  * reads at most MAX_BODY bytes of body, sized or chunked (413 beyond, unread);
  * answers Exact's empty validation POST (sent when subscribing) with 200;
  * checks HashCode, the HMAC-SHA256 of the raw Content bytes with the app's webhook secret
    (setting webhook_secret), in constant time, before anything in Content is parsed;
    anything unsigned, forged or altered gets 401 (a body whose top level is not a JSON
    object gets 400). Signed Content that is not valid UTF-8 JSON (a lone surrogate,
    invalid bytes, nesting too deep) is still stored: as "content_base64", with type
    "exact.unreadable" when it cannot be parsed at all;
  * maps Topic/Action to a unified event: generic_company.created / .updated / .deleted,
    and likewise for generic_contact, accounting_invoice_item and accounting_invoice
    (other topics: exact.<topic>.updated/.deleted). Exact sends a create as "Update": the
    changed row is fetched as a unified record, and a row whose created_at equals its
    updated_at is reported as .created;
  * stores the event, then answers 200. A delivery that could not be stored (or whose row
    could not be fetched because Exact was unavailable) gets 503, so Exact retries it
    (up to 10 times over about 34 hours). A replayed delivery is stored once.

Each event line: {"event_id", "type", "model", "action", "division", "id", "topic",
"exact_action", "occurred_at", "received_at", "record", "record_error", "content"}. The log
survives restarts: events are never rewritten, and ids are re-read on start. GET /health
answers {"ok": true, "events": N}.

At most --workers requests are handled at once and a short queue waits behind them; other
connections are closed at once (Exact retries). Each read waits at most --read-timeout
seconds and a request must arrive whole within three times that, so half-sent requests
cannot hold the receiver.""".replace("MAX_BODY", f"{MAX_BODY // 1024 // 1024} MB")

SERVE_EPILOG = """\
examples:
  exact-online webhooks serve --port 8080 --log /var/lib/exact/events.jsonl
  exact-online webhooks serve --host 0.0.0.0 --port 8080 --log events.jsonl --no-fetch
  tail -f events.jsonl | jq -c '{type, id, name: .record.name}'"""


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = add_command(
        commands, "webhooks",
        help="manage webhook subscriptions and run the receiver",
        description=DESCRIPTION, epilog=EPILOG, parents=parents,
    )
    subs = parser.add_subparsers(dest="webhooks_command", required=True, metavar="SUBCOMMAND")

    def sub(name: str, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = subs.add_parser(
            name, help=help, description=description, epilog=epilog, parents=parents,
            formatter_class=Formatter)
        return p

    subscribe = sub(
        "subscribe", "subscribe a callback URL to a model's changes",
        "Subscribe CALLBACK-URL to the Exact topic of MODEL, in each configured division (or "
        "--division). Exact first POSTs an empty body to the URL, which must answer 200.\n"
        "Prints the created subscriptions as JSON.",
        "example:\n  exact-online webhooks subscribe --model generic_company "
        "--callback-url https://hooks.example.com/exact --division 100001",
    )
    subscribe.add_argument("--model", required=True, help="unified model, e.g. generic_company")
    subscribe.add_argument("--callback-url", required=True, metavar="URL")
    subscribe.add_argument("--description", help="free text stored with the subscription")
    subscribe.add_argument("--division", type=division_arg, metavar="N")
    subscribe.set_defaults(func=run_subscribe)

    listing = sub(
        "list", "list the app's subscriptions",
        "List the app's webhook subscriptions (an app sees only its own) in each configured "
        "division (or --division), as JSON; each with its unified \"model\".",
        "examples:\n  exact-online webhooks list\n  exact-online webhooks list --model "
        "generic_company --division 100001",
    )
    listing.add_argument("--model", help="only this model's topic")
    listing.add_argument("--callback-url", metavar="URL", help="only this callback URL")
    listing.add_argument("--division", type=division_arg, metavar="N")
    listing.set_defaults(func=run_list)

    unsubscribe = sub(
        "unsubscribe", "remove subscriptions",
        "Remove the app's subscriptions of MODEL to CALLBACK-URL in each configured division "
        "(or --division), or one subscription by --id. Exits 1 when nothing matched.",
        "examples:\n  exact-online webhooks unsubscribe --model generic_company "
        "--callback-url https://hooks.example.com/exact\n"
        "  exact-online webhooks unsubscribe --id 3f6c...-... --division 100001",
    )
    unsubscribe.add_argument("--model", help="the model whose topic to unsubscribe")
    unsubscribe.add_argument("--callback-url", metavar="URL")
    unsubscribe.add_argument("--id", metavar="GUID", help="one subscription by its ID")
    unsubscribe.add_argument("--division", type=division_arg, metavar="N")
    unsubscribe.set_defaults(func=run_unsubscribe)

    serve = sub("serve", "run the receiver (verified events into a durable log)",
                SERVE_DESCRIPTION, SERVE_EPILOG)
    serve.add_argument("--host", default="127.0.0.1",
                       help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, required=True,
                       help="port to listen on (0: a free port, printed on start)")
    serve.add_argument("--log", required=True, metavar="FILE",
                       help="the event log (JSON Lines; created if missing)")
    serve.add_argument("--no-fetch", action="store_true",
                       help="do not fetch changed rows (no API calls; record stays null and "
                       "creates are reported as .updated)")
    serve.add_argument("--workers", type=_positive_int, default=WORKERS, metavar="N",
                       help=f"requests handled at once (default {WORKERS}); more connections "
                       "wait in a short queue, beyond it they are closed (Exact retries)")
    serve.add_argument("--read-timeout", type=_positive_float, default=READ_TIMEOUT,
                       metavar="SECONDS",
                       help=f"longest wait for each read from a client (default "
                       f"{READ_TIMEOUT:g}); a request must arrive whole within 3x this")
    serve.set_defaults(func=run_serve)


def run_subscribe(args: argparse.Namespace) -> int:
    context = Context.from_args(args)
    try:
        topic_for_model(args.model)
        manager = WebhookSubscriptions(context.client())
        created = [
            manager.subscribe(division, args.model, args.callback_url,
                              description=args.description)
            for division in context.divisions(args.division)
        ]
    finally:
        context.close()
    print_json(created)
    return 0


def run_list(args: argparse.Namespace) -> int:
    context = Context.from_args(args)
    try:
        manager = WebhookSubscriptions(context.client())
        rows = [
            row
            for division in context.divisions(args.division)
            for row in manager.list(division, model=args.model, callback_url=args.callback_url)
        ]
    finally:
        context.close()
    print_json(rows)
    return 0


def run_unsubscribe(args: argparse.Namespace) -> int:
    if args.id is None and (args.model is None or args.callback_url is None):
        raise ValidationError("say what to remove: --model and --callback-url, or --id")
    context = Context.from_args(args)
    removed: list[dict[str, Any]] = []
    try:
        manager = WebhookSubscriptions(context.client())
        for division in context.divisions(args.division):
            for row in manager.list(division, model=args.model, callback_url=args.callback_url):
                if args.id is not None and str(row.get("ID", "")).lower() != args.id.lower():
                    continue
                manager.unsubscribe(division, str(row["ID"]))
                removed.append(row)
    finally:
        context.close()
    if not removed:
        raise ValidationError("no subscription matched; see `exact-online webhooks list`")
    print_json(removed)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    logging.getLogger("exact_online_core.webhooks").setLevel(logging.INFO)  # one line per event
    context = Context.from_args(args)
    secret = context.webhook_secret
    fetch = None
    if not args.no_fetch:
        api = context.api()
        fetch = api.retrieve
    event_log = EventLog(args.log)
    try:
        receiver = Receiver(secret, event_log, fetch)
        try:
            server = make_receiver_server(receiver, args.host, args.port, workers=args.workers,
                                          read_timeout=args.read_timeout,
                                          request_deadline=3 * args.read_timeout)
        except OSError as exc:
            raise ValidationError(
                f"cannot listen on {args.host}:{args.port} ({exc.strerror})"
            ) from None
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"Listening on http://{host}:{server.server_port}/ ; events go to {args.log} "
              f"({len(event_log)} stored so far)", flush=True)
        signal.signal(signal.SIGTERM, _terminate)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        print("Receiver stopped", file=sys.stderr)
    finally:
        event_log.close()
        context.close()
    return 0


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _port(value: str) -> int:
    if not value.strip().isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"a port from 0 to 65535, got {value!r}")
    return int(value)


def _positive_int(value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, got {value!r}")
    return int(value)


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"a positive number of seconds, got {value!r}")
    return number
