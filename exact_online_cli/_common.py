"""What every command shares: settings (file + environment), the core objects, JSON I/O."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.errors import ConfigError, ValidationError
from exact_online_core.http import ExactClient

if TYPE_CHECKING:
    from exact_online_core.api import ExactOnline

CONFIG_ENV = "EXACT_ONLINE_CONFIG"
ENV_SETTINGS = (
    "region",
    "base_url",
    "client_id",
    "client_secret",
    "redirect_uri",
    "refresh_token",
    "token_store",
    "divisions",
    "webhook_secret",
)
"""Settings that ``EXACT_ONLINE_<NAME>`` environment variables provide or override."""

TOO_DEEP = "JSON nested more than about 900 levels deep cannot be read"

CONFIG_HELP = (
    "JSON config file (default: $EXACT_ONLINE_CONFIG). Environment variables "
    "EXACT_ONLINE_CLIENT_ID, _CLIENT_SECRET, _REDIRECT_URI, _REGION, _BASE_URL, _TOKEN_STORE, "
    "_DIVISIONS, _REFRESH_TOKEN and _WEBHOOK_SECRET override its values."
)


def common_options() -> argparse.ArgumentParser:
    """--config and --verbose, accepted before or after the subcommand."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                        help=CONFIG_HELP)
    parent.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log each API call to stderr")
    return parent


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Plain settings: the JSON file (if any), then ``EXACT_ONLINE_*`` variables on top."""
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    settings: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = json.loads(path.expanduser().read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("--config", f"{path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise ConfigError("--config", f"{path} is not a readable JSON file ({exc})") from None
        except RecursionError:
            raise ConfigError("--config", f"{path} is nested too deeply ({TOO_DEEP})") from None
        if not isinstance(loaded, dict):
            raise ConfigError("--config", f"{path} must hold a JSON object")
        settings.update(loaded)
    for name in ENV_SETTINGS:
        value = env.get(f"EXACT_ONLINE_{name.upper()}")
        if value:
            settings[name] = value
    if not settings:
        raise ConfigError(
            "--config",
            "no settings: pass --config FILE (see `exact-online --help`) or set "
            "EXACT_ONLINE_CONFIG / EXACT_ONLINE_* variables",
        )
    return settings


@dataclass
class Context:
    """Settings and lazily built core objects for one command run."""

    settings: dict[str, Any]
    _config: ExactConfig | None = None
    _api: ExactOnline | None = None
    _client: ExactClient | None = None
    closers: list[Any] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        return cls(load_settings(getattr(args, "config", None)))

    @property
    def config(self) -> ExactConfig:
        if self._config is None:
            self._config = ExactConfig.from_mapping(self.settings)
        return self._config

    @property
    def webhook_secret(self) -> str:
        value = self.settings.get("webhook_secret")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                "webhook_secret",
                "is required: the app's webhook secret from the Exact App Center (config "
                "file or EXACT_ONLINE_WEBHOOK_SECRET)",
            )
        return value.strip()

    def api(self) -> ExactOnline:
        if self._api is None:
            from exact_online_core.api import ExactOnline

            self._api = ExactOnline(
                self.config,
                field_mappings=self.settings.get("field_mappings"),
                custom_streams=self.settings.get("custom_streams"),
            )
            self.closers.append(self._api)
        return self._api

    def client(self) -> ExactClient:
        """The API's client when the API is built, else a plain client (proxy, webhooks)."""
        if self._api is not None:
            return self._api.client
        if self._client is None:
            self._client = ExactClient(self.config, broker_from_config(self.config))
            self.closers.append(self._client)
        return self._client

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer.close()
        self.closers.clear()

    def divisions(self, chosen: int | None) -> list[int]:
        """``--division`` when given, else the configured divisions (``current``: current/Me)."""
        if chosen is not None:
            return [chosen]
        configured = self.config.divisions
        if isinstance(configured, list):
            return list(configured)
        if configured is None:
            return [self.client().current_division()]
        return list(self.api().divisions())

    def one_division(self, chosen: int | None) -> int:
        """The division for a single-record command: --division, or the only configured one."""
        divisions = self.divisions(chosen)
        if len(divisions) != 1:
            raise ValidationError(
                f"several divisions are configured ({', '.join(map(str, divisions))}); "
                "say which with --division"
            )
        return divisions[0]


def division_arg(value: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise argparse.ArgumentTypeError(f"a division code is a positive integer, got {value!r}")
    return int(value)


def read_json_data(data: str | None, what: str = "--data") -> Any:
    """JSON from ``--data '{...}'``, ``--data @file.json``, ``--data -`` or stdin (omitted)."""
    if data is None or data == "-":
        if data is None and sys.stdin.isatty():
            raise ValidationError(f"give the JSON with {what} '{{...}}', {what} @file.json or "
                                  "on stdin")
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError:
            raise ValidationError(f"{what} from stdin: not UTF-8 text") from None
        source = f"{what} from stdin"
    elif data.startswith("@"):
        try:
            text = Path(data[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"{what} {data}: cannot read {data[1:]}: {exc.strerror}"
                                  ) from None
        except UnicodeDecodeError:
            raise ValidationError(f"{what} {data}: {data[1:]} is not UTF-8 text") from None
        source = f"{what} {data}"
    else:
        text, source = data, what
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise ValidationError(f"{source} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationError(f"{source} is nested too deeply ({TOO_DEEP})") from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(exc.object[exc.start])
        raise ValidationError(f"{source} holds a lone surrogate (\\u{bad:04x}), which is "
                              "not text and cannot be sent as UTF-8") from None
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json_object(data: str | None) -> dict[str, Any]:
    value = read_json_data(data)
    if not isinstance(value, dict):
        raise ValidationError("the record must be a JSON object")
    return value


def print_json(value: Any, *, compact: bool = False) -> None:
    if compact:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    else:
        text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(text + "\n")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-written layout of descriptions and examples."""


def add_command(
    commands: Any, name: str, *, help: str, description: str, epilog: str,
    parents: list[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=description, epilog=epilog, parents=parents,
        formatter_class=Formatter,
    )
    return parser
