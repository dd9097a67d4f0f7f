"""Collection pages rendered from the store's JSON text are byte for byte the slow renderer's.

``exact_online_sandbox.pages`` is the sandbox's hot path; ``responses.render_row`` followed by
``json.dumps`` stays the definition of an answer (it still renders ``$expand``, Atom, single
rows and writes). These tests hold the two equal on every endpoint the sandbox serves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from rendering import BASE, DIVISION, dumps, every_entity_backend

from exact_online_sandbox.backend import Backend, Query
from exact_online_sandbox.entities import ENTITIES, EntityDef, Mode, resolve
from exact_online_sandbox.pages import collection_json, rows_json
from exact_online_sandbox.responses import collection_body, render_row
from exact_online_sandbox.server import Sandbox


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    yield from every_entity_backend()


def readable() -> list[tuple[EntityDef, Mode]]:
    return [(entity, mode) for entity in ENTITIES.values() for mode, view in entity.views.items()
            if "GET" in view.methods and entity.name != "WebhookSubscriptions"]


def page_of(backend: Backend, entity: EntityDef, mode: Mode) -> tuple[list[Any], list[Any]]:
    """The stored rows of an endpoint's first page and the same rows loaded as dicts."""
    r = resolve(entity.path_for(mode))
    assert r is not None, entity.path_for(mode)
    page = backend.page(r, DIVISION, Query(top=1000, select=("*",)), 1000)
    return page.stored, page.rows


def reference(entity: EntityDef, mode: Mode, rows: list[dict[str, Any]],
              select: tuple[str, ...] | None = None) -> list[bytes]:
    return [dumps(render_row(entity, row, base_url=BASE, division=DIVISION, select=select,
                             mode=mode)) for row in rows]


def test_every_endpoint_renders_its_rows_as_render_row_does(backend: Backend) -> None:
    checked = 0
    for entity, mode in readable():
        stored, rows = page_of(backend, entity, mode)
        fast = rows_json(entity, mode, stored, base_url=BASE, division=DIVISION)
        assert fast == reference(entity, mode, rows), entity.path_for(mode)
        checked += len(rows)
    assert checked > 1000


def test_every_endpoint_renders_a_select_as_render_row_does(backend: Backend) -> None:
    for entity, mode in readable():
        view = entity.view(mode)
        names = list(view.fields)
        # the key, a flag if there is one, the last property, and a collection if any
        select = tuple({names[0], names[-1], *list(view.flags)[:1], *list(view.navigations)[:1]})
        stored, rows = page_of(backend, entity, mode)
        fast = rows_json(entity, mode, stored, base_url=BASE, division=DIVISION, select=select)
        assert fast == reference(entity, mode, rows, select), (entity.path_for(mode), select)


def test_awkward_stored_values_render_as_render_row_does(backend: Backend) -> None:
    """Explicit nulls over flags, escapes and non-ASCII, integral and negative-zero doubles,
    a bool in an Int field, dates as floats, values the endpoint does not show."""
    entity = ENTITIES["Accounts"]
    row = entity.template
    row.update(ID="0ddba11c-0000-4000-8000-00000000beef", Code="  9999", Blocked=None,
               Name='Quote " back\\slash \n tab\t \u2028 東京 \x01', Status=None,
               CreditLinePurchase=1000.0, CreditLineSales=-3.0,
               DiscountSales=0.125, SecurityLevel=True, StartDate=1.7e12, Unknown="x",
               IsSales=0, Latitude=-0.0)
    backend.save(entity, DIVISION, row)
    found = backend.store.get("Accounts", DIVISION, row["ID"])
    assert found is not None
    stored = [found]
    for mode in entity.views:
        rows = [Backend.load(entity, found)]
        fast = rows_json(entity, mode, stored, base_url=BASE, division=DIVISION)
        assert fast == reference(entity, mode, rows), mode


@pytest.mark.parametrize(("next_url", "total", "bare"), [
    (None, None, False), (None, None, True), ("http://h/x?$skiptoken=1L&$f=é \"q\"", None, False),
    (None, 12, False), ("http://h/x?$skiptoken=2L", 7, True), (None, 0, True)])
def test_collection_envelope_is_collection_body(next_url: str | None, total: int | None,
                                                bare: bool) -> None:
    rows: list[dict[str, Any]] = [{"a": 1, "b": "é"}, {"a": 2, "b": None}]
    expected = dumps(collection_body(rows, next_url, total, bare=bare))
    assert collection_json([dumps(r) for r in rows], next_url, total, bare=bare) == expected
    assert collection_json([], next_url, total, bare=bare) == \
        dumps(collection_body([], next_url, total, bare=bare))


def test_served_sync_pages_are_the_reference_rendering_of_the_stored_rows() -> None:
    """Over HTTP: every page of sync/CRM/Accounts (several pages, __next followed) is the
    slow renderer's JSON of the rows the store holds, in Timestamp order."""
    with Sandbox(seed=42, size={"accounts": 2500, "contacts": 10, "items": 10}) as sb:
        assert sb.app is not None
        token = sb.access_token()
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}",
                                "Accept": "application/json"})
        entity = ENTITIES["Accounts"]
        stored = sb.app.store.select(
            "SELECT key, ts, data FROM rows WHERE entity = 'Accounts' AND division = ? "
            "ORDER BY ts", [DIVISION])
        rows = [Backend.load(entity, s) for s in stored]
        url: str | None = f"{sb.api_url}/{DIVISION}/sync/CRM/Accounts?$filter=Timestamp gt 0L"
        served = 0
        pages = 0
        while url:
            response = session.get(url, timeout=60)
            assert response.status_code == 200
            d = json.loads(response.content)["d"]
            expected = [render_row(entity, row, base_url=sb.base_url, division=DIVISION,
                                   mode="sync")
                        for row in rows[served:served + len(d["results"])]]
            assert response.content == dumps(collection_body(expected, d.get("__next")))
            served += len(expected)
            pages += 1
            url = d.get("__next")
        session.close()
    assert pages == 3
    assert served == len(rows) == 2500
