"""The distribution that ships every executable, and its version: one answer to `--version`."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "tap-exact-online"
"""The one distribution (pyproject.toml ``[project] name``) that installs the tap, the
target, the admin CLI and the sandbox; the SDK's plugins look their version up under it."""


def version() -> str:
    """The installed distribution's version, or ``unknown`` when run from an uninstalled tree."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
