"""The ``exact-online`` command: a thin human layer over the core (and the sandbox)."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import stat
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.errors import ConfigError, ExactError
from exact_online_core.http import ExactClient
from exact_online_core.login import finish_login, start_login

log = logging.getLogger("exact_online_core.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exact-online",
        description="Exact Online from the command line: the local sandbox and a demo of the "
        "connector core (login, check, records, proxy and webhooks are coming).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each API call")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sandbox = commands.add_parser(
        "sandbox",
        help="run the Exact Online sandbox (an emulator on loopback)",
        description="Run the Exact Online sandbox. Everything after `sandbox` goes to "
        "`python -m exact_online_sandbox`, e.g. `exact-online sandbox serve --port 8765`.",
    )
    sandbox.add_argument("args", nargs=argparse.REMAINDER, help="serve [--port P] [--seed N] ...")

    demo = commands.add_parser(
        "demo",
        help="log in to the sandbox (or any Exact Online) and make a few API calls",
        description="Starts the sandbox on the config's loopback base_url when nothing listens "
        "there, runs the OAuth login flow (the sandbox approves by itself), then calls "
        "current/Me, system/Divisions and sync/CRM/Accounts through the core.",
    )
    demo.add_argument("--config", required=True, type=Path, help="JSON config file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("urllib3").setLevel(logging.INFO)  # its DEBUG lines carry full URLs
    if args.command == "sandbox":
        from exact_online_sandbox.__main__ import main as sandbox_main

        return sandbox_main(args.args or ["serve"])
    try:
        if args.command == "demo":
            return run_demo(load_config(args.config))
    except ExactError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 2


def load_config(path: Path) -> ExactConfig:
    """Read a JSON config file; a missing or broken file is a config error naming it."""
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--config", f"{path} does not exist") from None
    except ValueError as exc:
        raise ConfigError("--config", f"{path} is not valid JSON ({exc})") from None
    if not isinstance(settings, dict):
        raise ConfigError("--config", f"{path} must hold a JSON object")
    return ExactConfig.from_mapping(settings)


def run_demo(config: ExactConfig) -> int:
    with ExitStack() as stack:
        host, port = _loopback_address(config.base_url)
        if host is not None and not _listening(host, port):
            from exact_online_sandbox.server import Sandbox

            stack.enter_context(Sandbox(seed=42, host=host, port=port))
            print(f"Started the Exact Online sandbox on {config.base_url} (seed 42)")
        broker = broker_from_config(config)
        request = start_login(config)
        print(f"1. Login: consent at {config.auth_url} for app {config.client_id}")
        consent = requests.get(request.url, allow_redirects=False, timeout=config.timeout)
        redirect = consent.headers.get("Location")
        if consent.status_code not in (301, 302, 303) or not redirect:
            print(
                "   This Exact Online needs a person to approve the consent; open the URL above "
                "in a browser (the `exact-online login` command will do this for you).",
            )
            return 1
        finish_login(broker, request, redirect)
        mode = stat.S_IMODE(config.token_store.stat().st_mode)
        print(f"   Tokens stored in {config.token_store} (mode {mode:o})")

        client = ExactClient(config, broker)
        me = client.get("current/Me")
        user = _first_row(me)
        print(
            f"2. current/Me: {user.get('FullName')} <{user.get('Email')}>, "
            f"current division {user.get('CurrentDivision')}"
        )
        divisions = config.divisions
        if not isinstance(divisions, list):
            divisions = [int(user["CurrentDivision"])]
        for division in divisions:
            info = _first_row(client.get(f"system/Divisions({division})", division=division))
            accounts = 0
            pages = 0
            for page in client.iter_pages(
                "sync/CRM/Accounts",
                division=division,
                params={"$select": "ID,Code,Name,Timestamp", "$filter": "Timestamp gt 1L"},
            ):
                pages += 1
                accounts += len(page.rows)
            budget = client.rate_limiter.snapshot(division)
            print(
                f"3. Division {division} ({info.get('Description')}): {accounts} accounts "
                f"in {pages} page(s); calls left: {_budget_text(budget)}"
            )
        print(f"4. API calls made by this demo: {client.calls}")
    return 0


def _first_row(body: Any) -> dict[str, Any]:
    data = body.get("d", body) if isinstance(body, dict) else body
    if isinstance(data, dict) and "results" in data:
        data = data["results"]
    if isinstance(data, list):
        data = data[0] if data else {}
    return data if isinstance(data, dict) else {}


def _budget_text(budget: Any) -> str:
    if budget is None:
        return "unknown"
    minute = getattr(budget, "minutely_remaining", None)
    day = getattr(budget, "daily_remaining", None)
    return f"{minute} this minute, {day} today"


def _loopback_address(base_url: str) -> tuple[str | None, int]:
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if host in ("127.0.0.1", "localhost") or host.startswith("127."):
        return ("127.0.0.1" if host == "localhost" else host), port
    return None, port


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


if __name__ == "__main__":
    sys.exit(main())
