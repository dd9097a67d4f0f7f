"""`exact-online demo`: start the sandbox if needed, log in, make a few calls."""

from __future__ import annotations

import argparse
import socket
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

import requests

from exact_online_cli._common import add_command, load_settings
from exact_online_cli.login import stored_where
from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.errors import ConfigError
from exact_online_core.http import ExactClient
from exact_online_core.login import finish_login, start_login

DESCRIPTION = """\
Starts the sandbox on the config's loopback base_url when nothing listens there, runs the
OAuth login flow (the sandbox approves by itself), then calls current/Me, system/Divisions
and sync/CRM/Accounts through the core."""

EPILOG = """\
example:
  exact-online demo --config sample_config.json
"""


def register(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    demo = add_command(
        commands, "demo",
        help="log in to the sandbox (or any Exact Online) and make a few API calls",
        description=DESCRIPTION, epilog=EPILOG, parents=parents,
    )
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "config", None) is None:
        raise ConfigError("--config", "the demo needs a JSON config file (--config FILE)")
    return run_demo(ExactConfig.from_mapping(load_settings(args.config)))


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
        print(f"   Tokens stored in {stored_where(config, broker)}")

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

