"""A faithful emulator of the Exact Online REST API, served on loopback.

``from exact_online_sandbox import Sandbox`` gives the server handle; importing the
package itself stays cheap (no werkzeug, no SQLite) until ``Sandbox`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exact_online_sandbox.server import Sandbox

__all__ = ["Sandbox"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from exact_online_sandbox.server import Sandbox

        return Sandbox
    raise AttributeError(f"module 'exact_online_sandbox' has no attribute {name!r}")
