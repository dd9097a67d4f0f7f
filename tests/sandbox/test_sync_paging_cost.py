"""A sync page costs the same at the end of a large set as at its start (no n² sync)."""

from __future__ import annotations

from exact_online_sandbox.backend import Backend, Query
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.entities import resolve
from exact_online_sandbox.store import Store

DIVISION = 100001


def vm_steps(backend: Backend, query: Query) -> int:
    """SQLite virtual machine steps (counted in hundreds) spent on one 100-row page."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    r = resolve("sync/CRM/Accounts")
    assert r is not None
    conn = backend.store._conn
    conn.set_progress_handler(count, 100)
    try:
        page = backend.page(r, DIVISION, query, 100)
    finally:
        conn.set_progress_handler(None, 0)
    assert len(page.stored) == 100
    return steps


def test_a_late_sync_page_with_a_timestamp_filter_costs_what_the_first_one_does() -> None:
    store = Store(None)
    backend = Backend(store, Clock(), seed=3, size={"accounts": 4000, "contacts": 0,
                                                    "items": 0, "invoices": 0})
    stamps = [ts for (ts,) in store._conn.execute(
        "SELECT ts FROM rows WHERE entity = 'Accounts' AND division = ? ORDER BY ts",
        (DIVISION,))]
    first = vm_steps(backend, Query(filter="Timestamp gt 0L"))
    late = vm_steps(backend, Query(filter="Timestamp gt 0L", skiptoken=f"{stamps[-101]}L"))
    # the token's bound seeks the index: the page does not walk the 3,900 rows before it
    assert late < first * 2, (first, late)
    store.close()
