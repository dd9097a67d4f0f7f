"""Helpers for the renderer tests: a store with every entity seeded, and Exact's compact JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from exact_online_sandbox.backend import Backend, Page, Query
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.entities import EntityDef, resolve
from exact_online_sandbox.responses import collection_uri
from exact_online_sandbox.sqlrows import row_sql, uri_opening
from exact_online_sandbox.store import Store

BASE = "http://127.0.0.1:8765"
DIVISION = 100001


def dumps(payload: Any) -> bytes:
    """A payload as the sandbox writes it: compact, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def every_entity_backend() -> Iterator[Backend]:
    """Every entity seeded (3 rows of each generic one, the special names among accounts),
    in memory; closed after its one ``yield`` (a module fixture's body)."""
    store = Store(None)
    yield Backend(store, Clock(1.0), seed=42, size={"generic": 3, "accounts": 40})
    store.close()


def sql_and_row_pages(backend: Backend, entity: EntityDef, q: Query,
                      page_size: int) -> tuple[Page, Page]:
    """The same page of the entity's sync endpoint, rendered and joined by SQLite (as the app
    asks for a JSON page with a short ``$select``) and by the row path."""
    r = resolve(entity.path_for("sync"))
    assert r is not None
    sql = row_sql(entity, "sync", q.select)
    assert sql is not None, (entity.name, q.select)
    opening = uri_opening(collection_uri(entity, "sync", BASE, DIVISION))
    fast = backend.page(r, DIVISION, q, page_size, render=(sql.sql, sql.params(opening)))
    slow = backend.page(r, DIVISION, q, page_size)
    assert fast.body is not None and slow.body is None
    return fast, slow
