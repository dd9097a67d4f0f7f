"""Connection settings, validated once, with an error that names the bad setting."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, unquote, urlsplit

from exact_online_core.errors import ConfigError
from exact_online_core.secrets import Secret
from exact_online_core.version import version

REGIONS: Mapping[str, str] = {
    "nl": "https://start.exactonline.nl",
    "be": "https://start.exactonline.be",
    "de": "https://start.exactonline.de",
    "uk": "https://start.exactonline.co.uk",
    "us": "https://start.exactonline.com",
    "fr": "https://start.exactonline.fr",
    "es": "https://start.exactonline.es",
}

DEFAULT_TOKEN_DIR = Path("~/.exact-online")

Divisions = list[int] | Literal["all"] | None

DATABASE_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class DatabaseLocation:
    """``token_store: "postgresql://user@host:port/db"``: the login's tokens in a table of
    that database, one row per login (named by the URL's ``#fragment``, else the client_id).

    The URL may carry a password (libpq's PGPASSWORD or ~/.pgpass are better), so it is a
    :class:`Secret`; ``str()`` shows it without the password.
    """

    url: Secret
    row: str | None = None

    def __str__(self) -> str:
        return masked_url(urlsplit(self.url.reveal()))


def masked_url(parts: SplitResult) -> str:
    """scheme://user@host:port/path, never the password, the query or the fragment."""
    user = f"{unquote(parts.username)}@" if parts.username else ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"



@dataclass(frozen=True)
class ExactConfig:
    """Everything the core needs to reach one Exact Online user's data.

    ``divisions``: a list of division codes, ``"all"`` (every division the user can reach),
    or ``None`` for the user's current division (``current/Me``).
    """

    base_url: str
    client_id: str
    client_secret: Secret
    redirect_uri: str | None = None
    refresh_token: Secret | None = None
    token_store: Path | DatabaseLocation = field(
        default_factory=lambda: DEFAULT_TOKEN_DIR / "tokens.json")
    divisions: Divisions = None
    timeout: float = 60.0
    max_retries: int = 5
    user_agent: str = f"exact-online-connector/{version()} (+singer)"

    @property
    def api_root(self) -> str:
        return f"{self.base_url}/api/v1"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/api/oauth2/token"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/api/oauth2/auth"

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> ExactConfig:
        """Validate plain settings (tap/target/CLI config); unknown keys are ignored."""
        client_id = _required_str(settings, "client_id")
        return cls(
            base_url=_base_url(settings),
            client_id=client_id,
            client_secret=Secret(_required_str(settings, "client_secret")),
            redirect_uri=_optional_url(settings, "redirect_uri"),
            refresh_token=_optional_secret(settings, "refresh_token"),
            token_store=_token_store(settings, client_id),
            divisions=_divisions(settings.get("divisions")),
            timeout=_positive_number(settings, "timeout", 60.0),
            max_retries=_whole_number(settings, "max_retries", 5),
            user_agent=_user_agent(settings, cls.user_agent),
        )


def _required_str(settings: Mapping[str, Any], name: str) -> str:
    value = settings.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(name, "is required")
    if not isinstance(value, str):
        raise ConfigError(name, f"must be a string, got {type(value).__name__}")
    return value.strip()


def _optional_secret(settings: Mapping[str, Any], name: str) -> Secret | None:
    value = settings.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ConfigError(name, f"must be a string, got {type(value).__name__}")
    return Secret(value.strip())


def _optional_url(settings: Mapping[str, Any], name: str) -> str | None:
    value = settings.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise ConfigError(name, f"must be an http(s) URL, got {value!r}")
    return value


def _base_url(settings: Mapping[str, Any]) -> str:
    base_url = settings.get("base_url")
    if base_url:
        if not isinstance(base_url, str):
            raise ConfigError("base_url", "must be a string URL")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                "base_url", f"must look like https://start.exactonline.nl, got {base_url!r}"
            )
        if parts.path.rstrip("/"):
            raise ConfigError("base_url", "must be the host only, without /api/v1")
        return f"{parts.scheme}://{parts.netloc}"
    region = settings.get("region")
    if region is None:
        raise ConfigError("region", f"set a region ({', '.join(REGIONS)}) or an explicit base_url")
    key = str(region).strip().lower()
    if key not in REGIONS:
        raise ConfigError("region", f"must be one of {', '.join(REGIONS)}, got {region!r}")
    return REGIONS[key]


def _token_store(settings: Mapping[str, Any], client_id: str) -> Path | DatabaseLocation:
    value = settings.get("token_store")
    if value in (None, ""):
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", client_id)
        return (DEFAULT_TOKEN_DIR / f"tokens-{safe}.json").expanduser()
    if not isinstance(value, str):
        raise ConfigError("token_store", "must be a file path or a postgresql:// URL")
    scheme = value.partition("://")[0].lower() if "://" in value else ""
    if scheme:
        return _database_location(value, scheme)
    path = Path(value).expanduser()
    if path.exists() and path.is_dir():
        raise ConfigError("token_store", f"{path} is a directory; give a file path")
    return path


def _database_location(value: str, scheme: str) -> DatabaseLocation:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError("token_store", "is not a valid postgresql:// URL") from None
    if scheme not in DATABASE_SCHEMES:
        raise ConfigError("token_store", f"{masked_url(parts)} is neither a file path nor a "
                          "postgresql://user@host:port/database URL")
    row = unquote(parts.fragment) or None
    return DatabaseLocation(Secret(parts._replace(fragment="").geturl()), row)


def _divisions(value: Any) -> Divisions:
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "all":
            return "all"
        if text.lower() == "current":
            return None
        if text.startswith("["):  # a JSON list in a string: Meltano's env vars, `config set`
            try:
                return _divisions(json.loads(text))
            except ValueError:
                raise ConfigError(
                    "divisions", f"must be a list of division codes or 'all', got {value!r}"
                ) from None
        try:
            return _divisions([int(part) for part in text.replace(",", " ").split()])
        except ValueError:
            raise ConfigError(
                "divisions", f"must be a list of division codes or 'all', got {value!r}"
            ) from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError("divisions", f"must be a list of division codes or 'all', got {value!r}")
    codes: list[int] = []
    for item in value:
        if (isinstance(item, bool) or not isinstance(item, int | str)
                or not str(item).strip().isdigit() or int(item) <= 0):
            raise ConfigError("divisions", f"{item!r} is not a division code (a positive integer)")
        codes.append(int(item))
    if len(set(codes)) != len(codes):
        raise ConfigError("divisions", "lists a division twice")
    return codes


def _positive_number(
    settings: Mapping[str, Any], name: str, default: float, *, allow_zero: bool = False
) -> float:
    value = settings.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ConfigError(name, f"must be a number, got {value!r}")
    value = float(value)  # the SDK reads JSON numbers with a fraction as Decimal
    if not math.isfinite(value):
        raise ConfigError(name, f"must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(name, f"must be positive, got {value!r}")
    return float(value)


def _whole_number(settings: Mapping[str, Any], name: str, default: int) -> int:
    """A count (0 or more): a finite whole number."""
    value = float(_positive_number(settings, name, default, allow_zero=True))
    if not value.is_integer():
        raise ConfigError(name, f"must be a whole number, got {settings.get(name)!r}")
    return int(value)


def _user_agent(settings: Mapping[str, Any], default: str) -> str:
    """A User-Agent header value: printable ASCII."""
    value = settings.get("user_agent")
    if value in (None, ""):
        return default
    if not isinstance(value, str) or not value.isascii() or not value.isprintable():
        raise ConfigError("user_agent", f"must be printable ASCII text, got {value!r}")
    return value
