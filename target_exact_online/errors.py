"""Why a run stops: the one exception the console script turns into a single ``error:`` line."""

from __future__ import annotations


class TargetStopped(Exception):
    """The run cannot go on (login revoked, ledger unusable, Exact about to block the app...).

    No STATE is emitted; the console script prints ``error: <message>`` and exits 1.
    """
