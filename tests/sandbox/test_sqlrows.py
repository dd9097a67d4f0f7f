"""Sync rows rendered by SQLite (``sqlrows``) are byte for byte the Python renderer's.

A JSON sync page with a short ``$select`` (what the connector asks) is rendered by SQLite;
``pages.rows_json`` renders the rest and ``responses.render_row`` stays the definition. These
tests hold the SQL rendering equal to both on every sync endpoint and every property (in
selections of up to ``MAX_PROPERTIES``), on awkward stored values, and over HTTP.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from rendering import BASE, DIVISION, dumps, every_entity_backend, sql_and_row_pages

from exact_online_sandbox.backend import Backend, Query
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.entities import ENTITIES, EntityDef
from exact_online_sandbox.pages import rows_json
from exact_online_sandbox.responses import collection_body, render_row
from exact_online_sandbox.server import Sandbox
from exact_online_sandbox.sqlrows import MAX_PROPERTIES, row_sql
from exact_online_sandbox.store import Store


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    yield from every_entity_backend()


def sync_entities() -> list[EntityDef]:
    return [e for e in ENTITIES.values() if "sync" in e.views and "Timestamp" in e.fields]


def selections(entity: EntityDef) -> list[tuple[str, ...]]:
    """Every property and collection of the sync endpoint, in $selects of the most the SQL
    renderer takes."""
    view = entity.view("sync")
    names = [*view.fields, *view.navigations]
    return [tuple(names[i:i + MAX_PROPERTIES]) for i in range(0, len(names), MAX_PROPERTIES)]


def both_ways(backend: Backend, entity: EntityDef, select: tuple[str, ...] | None
              ) -> tuple[bytes, bytes, bytes]:
    """A sync page's rows (joined by commas) rendered by SQLite, by ``rows_json``, and by
    ``render_row``."""
    fast, slow = sql_and_row_pages(backend, entity, Query(select=select, top=1000), 1000)
    assert fast.body is not None
    assert fast.count == slow.count
    python = rows_json(entity, "sync", slow.stored, base_url=BASE, division=DIVISION,
                       select=select)
    reference = [dumps(render_row(entity, row, base_url=BASE, division=DIVISION,
                                  select=select, mode="sync")) for row in slow.rows]
    return fast.body, b",".join(python), b",".join(reference)


def test_every_sync_property_renders_in_sql_as_in_python(backend: Backend) -> None:
    rows = 0
    for entity in sync_entities():
        for select in selections(entity):
            sql, python, reference = both_ways(backend, entity, select)
            assert sql == python == reference, (entity.name, select)
            rows += sql.count(b'{"__metadata":')
    assert len(sync_entities()) > 40
    assert rows > 1000


def test_the_connectors_selects_render_in_sql_as_in_python(backend: Backend) -> None:
    """The properties a sync of the connector asks for (its models' ``$select``)."""
    selects = {
        "Accounts": ("ID", "Timestamp", "Created", "Modified", "Name", "Code", "Email",
                     "Phone", "Website", "VATNumber", "Country"),
        "Contacts": ("ID", "Timestamp", "Created", "Modified", "FirstName", "LastName",
                     "Email", "Phone", "Account"),
        "Items": ("ID", "Timestamp", "Created", "Modified", "Description",
                  "ExtraDescription", "Code", "Unit", "IsSalesItem"),
    }
    for name, select in selects.items():
        sql, python, reference = both_ways(backend, ENTITIES[name], select)
        assert sql.count(b'{"__metadata":') > 5
        assert sql == python == reference, name


def test_a_short_endpoint_without_select_renders_in_sql(backend: Backend) -> None:
    short = [e for e in sync_entities() if len(e.view("sync").fields) <= MAX_PROPERTIES]
    assert short
    for entity in short:
        sql, python, reference = both_ways(backend, entity, None)
        assert sql == python == reference, entity.name


def test_long_rows_and_plain_endpoints_stay_with_the_python_renderer() -> None:
    accounts = ENTITIES["Accounts"]
    assert row_sql(accounts, "sync", None) is None  # 164 properties a row
    assert row_sql(accounts, "plain", ("ID", "Name")) is None  # keyed by guid, not Timestamp
    assert row_sql(accounts, "sync", ("ID", "Name")) is not None


AWKWARD: dict[str, Any] = {
    # strings: escapes, non-ASCII, a JSON array and a number where a string is expected
    "Name": 'Quote " back\\slash \n tab\t \u2028 東京 \x01 \x7f % %s',
    "City": ["a", 1, None], "Code": 12, "Email": "",
    # booleans stored as other things, a Boolean stored as null over its default
    "Blocked": None, "IsSales": 0, "IsPurchase": 2.5, "IsSupplier": "", "IsReseller": "x",
    "IsMember": [], "IsPilot": {"a": None}, "IsBank": [0], "IsCompetitor": True,
    # Int properties stored as Booleans and as a double
    "SecurityLevel": True, "AddressSource": False, "Source": 3.0,
    # doubles: integral, negative zero, at and over 1e15, inexact, an int, a string
    "CreditLinePurchase": 1000.0, "CreditLineSales": -3.0, "DiscountSales": 0.1 + 0.2,
    "DiscountPurchase": 1e15, "Latitude": -0.0, "Longitude": 999999999999999.0,
    "PayAsYouEarn": 1e16,
    # dates as a double, a string and a Boolean
    "StartDate": 1.7e12, "EndDate": "1700000000000", "CustomerSince": True,
    # not a property of the endpoint
    "Unknown": "x",
}


def test_awkward_stored_values_render_in_sql_as_in_python() -> None:
    store = Store(None)
    backend = Backend(store, Clock(1.0), seed=None)
    try:
        entity = ENTITIES["Accounts"]
        fields = entity.view("sync").fields
        assert all(name in fields for name in AWKWARD if name != "Unknown"), \
            [n for n in AWKWARD if n not in fields]
        row = entity.template
        row.update(ID="0ddba11c-0000-4000-8000-00000000beef", **AWKWARD)
        backend.save(entity, DIVISION, row)
        stored = store.get("Accounts", DIVISION, row["ID"])
        assert stored is not None and '"IsPilot":{"a":null}' in stored[2]
        # a key (rendered from the key column) that JSON must escape
        odd = entity.template
        odd.update(ID='Quoted "key" \\ \n \x01 \x1f é', Name="odd key")
        backend.save(entity, DIVISION, odd)
        for select in selections(entity):
            sql, python, reference = both_ways(backend, entity, select)
            assert sql.count(b'{"__metadata":') == 2
            assert sql == python == reference, select
    finally:
        store.close()


def test_a_value_sqlite_cannot_read_is_served_by_the_python_renderer() -> None:
    """A NaN (Python's JSON writes it, SQLite's JSON refuses it): the page is still served,
    as the Python renderer makes it."""
    select = ("ID", "Timestamp", "LastName", "Notes")
    with Sandbox(seed=42, size={"accounts": 3, "contacts": 3, "items": 0}) as sb:
        assert sb.app is not None
        entity = ENTITIES["Contacts"]
        row = entity.template
        row.update(ID="0ddba11c-0000-4000-8000-00000000f00d", LastName="NaN", Notes=math.nan)
        sb.app.backend.save(entity, DIVISION, row)
        response = sb.call(sb.access_token(), "sync/CRM/Contacts?$filter=Timestamp gt 0L"
                           f"&$select={','.join(select)}")
        assert response.status_code == 200
        rows = [Backend.load(entity, s) for s in sb.app.store.select(
            "SELECT key, ts, data FROM rows WHERE entity = 'Contacts' AND division = ? "
            "ORDER BY ts", [DIVISION])]
        expected = [render_row(entity, r, base_url=sb.base_url, division=DIVISION,
                               select=select, mode="sync") for r in rows]
        assert response.content == dumps(collection_body(expected, None))
        assert b'"Notes":NaN' in response.content


def test_served_sync_pages_with_a_select_are_the_reference_rendering() -> None:
    """Over HTTP: every page of sync/CRM/Contacts with the connector's $select (several
    pages, __next followed) is the slow renderer's JSON of the rows the store holds."""
    select = ("ID", "Timestamp", "Created", "Modified", "FirstName", "LastName", "Email",
              "Phone", "Account")
    with Sandbox(seed=42, size={"accounts": 10, "contacts": 2500, "items": 0}) as sb:
        assert sb.app is not None
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {sb.access_token()}",
                                "Accept": "application/json"})
        entity = ENTITIES["Contacts"]
        rows = [Backend.load(entity, s) for s in sb.app.store.select(
            "SELECT key, ts, data FROM rows WHERE entity = 'Contacts' AND division = ? "
            "ORDER BY ts", [DIVISION])]
        url: str | None = (f"{sb.api_url}/{DIVISION}/sync/CRM/Contacts?$filter=Timestamp gt "
                           f"0L&$select={','.join(select)}")
        served, pages = 0, 0
        while url:
            response = session.get(url, timeout=60)
            assert response.status_code == 200
            d = json.loads(response.content)["d"]
            expected = [render_row(entity, row, base_url=sb.base_url, division=DIVISION,
                                   select=select, mode="sync")
                        for row in rows[served:served + len(d["results"])]]
            assert response.content == dumps(collection_body(expected, d.get("__next")))
            served += len(expected)
            pages += 1
            url = d.get("__next")
        session.close()
    assert pages == 3
    assert served == len(rows) > 2000
