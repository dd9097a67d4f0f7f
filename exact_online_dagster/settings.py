"""What the Dagster definitions read from the environment, so one code location runs anywhere.

Every setting is an environment variable (a Kubernetes pod, a Docker container and
``dagster dev`` set them the same way); nothing here is specific to one machine.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from exact_online_core.errors import ConfigError

PREFIX = "EXACT_ONLINE_DAGSTER_"
EXECUTORS = ("multiprocess", "in_process", "k8s", "docker")


@dataclass(frozen=True)
class Settings:
    project: Path
    """The Meltano project directory (meltano.yml)."""
    meltano: str
    """The meltano executable."""
    environment: str
    """The Meltano environment the runs use."""
    extractor: str
    loader: str
    retries: int
    """Retries of a division whose run failed (not when its daily API budget is spent)."""
    retry_delay: float
    """Seconds before the first retry; doubled for each next one, with jitter."""
    executor: str
    max_concurrent: int
    """Steps at once within one run (multiprocess executor)."""
    discovery_interval: int
    """Seconds between the sensor's ticks: discover divisions and request a sync of each."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        values = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return values.get(PREFIX + name, "").strip() or default

        executor = get("EXECUTOR", "multiprocess")
        if executor not in EXECUTORS:
            raise ConfigError(PREFIX + "EXECUTOR",
                              f"must be one of {', '.join(EXECUTORS)}, got {executor!r}")
        return cls(
            project=Path(get("PROJECT", os.getcwd())).expanduser().resolve(),
            meltano=get("MELTANO", _default_meltano()),
            environment=get("ENVIRONMENT", values.get("MELTANO_ENVIRONMENT", "") or "dev"),
            extractor=get("EXTRACTOR", "tap-exact-online"),
            loader=get("LOADER", "target-postgres"),
            retries=_whole(get("RETRIES", "3"), "RETRIES"),
            retry_delay=float(_whole(get("RETRY_DELAY", "60"), "RETRY_DELAY")),
            executor=executor,
            max_concurrent=max(1, _whole(get("MAX_CONCURRENT", str(os.cpu_count() or 1)),
                                         "MAX_CONCURRENT")),
            discovery_interval=max(30, _whole(get("INTERVAL", "3600"), "INTERVAL")),
        )


def _default_meltano() -> str:
    """meltano next to this Python (a virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / "meltano"
    if beside.exists():
        return str(beside)
    return shutil.which("meltano") or "meltano"


def _whole(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(PREFIX + name, f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise ConfigError(PREFIX + name, f"must not be negative, got {value}")
    return value


__all__ = ["EXECUTORS", "PREFIX", "Settings"]
