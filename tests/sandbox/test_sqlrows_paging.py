"""A page rendered and joined by SQLite (``Backend._rendered_page``) pages as the row path does.

The rendered page is one aggregate statement (count, last Timestamp, the rows' texts joined)
plus, for a full page, an index probe for a row after it. These tests hold its rows, row
count, next page and skip token equal to the row path's (the rows fetched one more than the
page, rendered by ``pages.rows_json``) at and around exact multiples of the page size, with
``$top``, ``$skip``, ``$inlinecount`` and filters, on empty and last pages, and over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from rendering import BASE, DIVISION, sql_and_row_pages

from exact_online_sandbox.backend import Backend, Page, Query
from exact_online_sandbox.clock import Clock
from exact_online_sandbox.entities import ENTITIES, resolve
from exact_online_sandbox.pages import rows_json
from exact_online_sandbox.server import Sandbox
from exact_online_sandbox.store import Store

SELECT = ("ID", "Timestamp", "FirstName", "LastName", "Account")
ROWS = 12


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    """Twelve contacts in division 100001 and nothing else."""
    store = Store(None)
    backend = Backend(store, Clock(1.0), seed=None)
    entity = ENTITIES["Contacts"]
    for n in range(ROWS):
        row = entity.template
        row.update(ID=f"0ddba11c-0000-4000-8000-{n:012d}", FirstName=f"Ann {n}",
                   LastName="Smith", Account=None if n % 3 else "a")
        backend.save(entity, DIVISION, row)
    yield backend
    store.close()


def both(backend: Backend, q: Query, page_size: int) -> tuple[Page, Page]:
    """The same page of sync/CRM/Contacts rendered by SQLite and by the row path."""
    return sql_and_row_pages(backend, ENTITIES["Contacts"], q, page_size)


def assert_same(fast: Page, slow: Page, select: tuple[str, ...]) -> None:
    assert fast.body is not None and slow.body is None
    assert fast.entity is not None
    texts = rows_json(fast.entity, "sync", slow.stored, base_url=BASE, division=DIVISION,
                      select=select)
    assert fast.body == b",".join(texts)
    assert fast.count == slow.count == len(slow.stored)
    assert fast.next_params == slow.next_params
    assert fast.total == slow.total


def walk(backend: Backend, page_size: int) -> list[int]:
    """Follow the skip tokens from the first page: each page's row count (both paths
    checked equal on every page)."""
    counts: list[int] = []
    token: str | None = None
    while True:
        q = Query(select=SELECT, filter="Timestamp gt 0L", skiptoken=token)
        fast, slow = both(backend, q, page_size)
        assert_same(fast, slow, SELECT)
        counts.append(fast.count)
        if fast.next_params is None:
            return counts
        token = fast.next_params["$skiptoken"]


@pytest.mark.parametrize(("page_size", "pages"), [
    (3, [3, 3, 3, 3]), (4, [4, 4, 4]), (6, [6, 6]), (12, [12]), (13, [12]),
])
def test_a_page_size_dividing_the_rows_gives_no_empty_last_page(
        backend: Backend, page_size: int, pages: list[int]) -> None:
    assert walk(backend, page_size) == pages


@pytest.mark.parametrize(("page_size", "pages"), [(5, [5, 5, 2]), (7, [7, 5]), (11, [11, 1])])
def test_a_short_last_page_ends_the_paging(
        backend: Backend, page_size: int, pages: list[int]) -> None:
    assert walk(backend, page_size) == pages


@pytest.mark.parametrize("top", [1, 3, 4, 12, 20])
def test_top_caps_the_page_and_its_next_link(backend: Backend, top: int) -> None:
    for page_size in (3, 4, 12):
        fast, slow = both(backend, Query(select=SELECT, top=top), min(page_size, top))
        assert_same(fast, slow, SELECT)
        assert fast.count == min(top, page_size, ROWS)


def test_an_empty_page_is_an_empty_body_without_a_next_page(backend: Backend) -> None:
    r = resolve("sync/CRM/Contacts")
    assert r is not None
    beyond = backend.store.scalar("SELECT max(ts) FROM rows", [])
    fast, slow = both(backend, Query(select=SELECT, filter=f"Timestamp gt {beyond}L",
                                     inlinecount=True), 5)
    assert_same(fast, slow, SELECT)
    assert fast.body == b"" and fast.count == 0 and fast.next_params is None
    assert fast.total == 0


def test_skip_and_inlinecount_page_as_the_row_path(backend: Backend) -> None:
    for skip in (0, 1, 6, 9, 12, 15):
        fast, slow = both(backend, Query(select=SELECT, skip=skip, inlinecount=True), 3)
        assert_same(fast, slow, SELECT)
        assert fast.total == ROWS


def test_a_filter_bounding_the_timestamps_above_pages_as_the_row_path(
        backend: Backend) -> None:
    """The probe for a next page keeps the filter: rows beyond its upper bound are no page."""
    stamps = [row[0] for row in backend.store.fetch(
        "SELECT ts FROM rows WHERE entity = 'Contacts' ORDER BY ts", [])]
    upper = stamps[5]  # rows 0..5 pass: six rows, pages of 3 then 3, no third
    counts: list[int] = []
    token: str | None = None
    while True:
        q = Query(select=SELECT, filter=f"Timestamp gt 0L and Timestamp le {upper}L",
                  skiptoken=token)
        fast, slow = both(backend, q, 3)
        assert_same(fast, slow, SELECT)
        counts.append(fast.count)
        if fast.next_params is None:
            break
        token = fast.next_params["$skiptoken"]
    assert counts == [3, 3]


def test_served_pages_at_an_exact_multiple_of_the_page_size_end_without_an_empty_page() -> None:
    """Over HTTP, 20 contacts in pages of 5: four pages, the last without ``__next``, every
    row once and in Timestamp order."""
    with Sandbox(seed=42, size={"accounts": 4, "contacts": 20, "items": 0},
                 divisions=1) as sb:
        assert sb.app is not None
        stored = sb.row_count("crm/Contacts")  # 20
        sb.app.page_sizes["bulk"] = 5
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {sb.access_token()}",
                                "Accept": "application/json"})
        url: str | None = (f"{sb.api_url}/{DIVISION}/sync/CRM/Contacts?$filter=Timestamp gt "
                           f"0L&$select={','.join(SELECT)}")
        pages: list[list[int]] = []
        while url:
            response = session.get(url, timeout=60)
            assert response.status_code == 200
            d = json.loads(response.content)["d"]
            pages.append([int(row["Timestamp"]) for row in d["results"]])
            url = d.get("__next")
        session.close()
    stamps = [ts for page in pages for ts in page]
    assert stored % 5 == 0 and stored >= 20
    assert [len(p) for p in pages] == [5] * (stored // 5)
    assert stamps == sorted(set(stamps)) and len(stamps) == stored
