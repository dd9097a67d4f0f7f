"""The ``exact-online`` command: a thin human layer over the core (and the sandbox).

One module per command (``login``, ``check``, ``records``, ``proxy``, ``webhooks``, ``demo``);
each registers its parser and a ``func`` taking the parsed arguments and returning the exit
status. Expected failures (every :class:`~exact_online_core.errors.ExactError`) print
``error: …`` on stderr and exit 1, never a traceback and never a token or secret.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from exact_online_cli import check, demo, login, proxy, records, webhooks
from exact_online_cli._common import CONFIG_HELP, Formatter, common_options
from exact_online_core.errors import ExactError
from exact_online_core.version import version

DESCRIPTION = """\
Exact Online from the command line, with your own Exact app (client id, secret, redirect
URI). Every command works unchanged against real Exact Online and against the local
sandbox: only the config differs.

Settings come from a JSON config file (--config, or $EXACT_ONLINE_CONFIG) with
EXACT_ONLINE_<SETTING> environment variables on top:

  region | base_url     nl, be, de, uk, us, fr, es, or a URL (the sandbox's)
  client_id, client_secret, redirect_uri
                        your app in the Exact App Center
  token_store           where `login` keeps the tokens (mode 0600)
  divisions             [100001, ...], "all", or omitted for your current division
  webhook_secret        the app's webhook secret (for `webhooks serve`)
  field_mappings, custom_streams
                        as for the tap and target"""

EPILOG = """\
examples, getting started against the local sandbox:
  exact-online sandbox serve --port 8765 &
  cat > exact.json <<'EOF'
  {"base_url": "http://127.0.0.1:8765", "client_id": "sandbox-client",
   "client_secret": "sandbox-secret", "redirect_uri": "http://127.0.0.1:8765/callback",
   "token_store": "~/.exact-online/sandbox-tokens.json", "divisions": [100001, 100002],
   "webhook_secret": "sandbox-webhook-secret"}
  EOF
  exact-online login --config exact.json --auto-consent
  exact-online check --config exact.json
  exact-online records generic_company list --config exact.json --limit 3
  exact-online proxy GET 'crm/Accounts?$top=2' --config exact.json

Run `exact-online COMMAND --help` for each command's manual. Exit status: 0 success,
1 an error (printed as `error: ...`) or, for `check`, something configured is not allowed,
2 a usage error."""


def build_parser() -> argparse.ArgumentParser:
    parents = [common_options()]
    parser = argparse.ArgumentParser(
        prog="exact-online", description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter
    )
    parser.add_argument("--config", type=Path, default=None, metavar="FILE", help=CONFIG_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="log each API call to stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s v{version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    login.register(commands, parents)
    check.register(commands, parents)
    records.register(commands, parents)
    proxy.register(commands, parents)
    webhooks.register(commands, parents)
    sandbox = commands.add_parser(
        "sandbox",
        help="run the Exact Online sandbox (an emulator on loopback)",
        description="Run the Exact Online sandbox. Everything after `sandbox` goes to "
        "`python -m exact_online_sandbox`.",
        epilog="example:\n  exact-online sandbox serve --port 8765 --seed 42 "
        "--data-dir .sandbox-data\n  exact-online sandbox serve --help",
        formatter_class=Formatter,
    )
    sandbox.add_argument("args", nargs=argparse.REMAINDER, help="serve [--port P] [--seed N] ...")
    demo.register(commands, parents)
    return parser


def escape_unencodable_output() -> None:
    """Text UTF-8 cannot encode (a lone surrogate: how Python hands over an argument's
    undecodable byte, or what a JSON ``\\ud800`` escape decodes to) is printed escaped
    (``\\udcff``) instead of ending the command in a UnicodeEncodeError while it reports."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    escape_unencodable_output()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        for name in ("exact_online_core", "exact_online_sandbox"):
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.INFO)  # its DEBUG lines carry full URLs
    if args.command == "sandbox":
        from exact_online_sandbox.__main__ import main as sandbox_main

        return sandbox_main(args.args or ["serve"])
    try:
        status: int = args.func(args)
        return status
    except ExactError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # a bug: still one line, the traceback only with -v
        if args.verbose:
            traceback.print_exc()
        print(f"error: unexpected {type(error).__name__} in `exact-online {args.command}` "
              f"(a bug; run with -v for the traceback and report it): {error}"[:500],
              file=sys.stderr)
        return 1


__all__ = ["build_parser", "main"]
