"""The catalog item's ``price`` on every read, though Exact's sync endpoint for items lacks it.

``sync/Logistics/Items`` does not serve ``StandardSalesPrice`` (Exact's reference; the core
does not ask for it there), so the core takes it from ``bulk/Logistics/Items``: the sandbox
over HTTP must see every item with the price ``logistics/Items`` shows, after a first sync and
after a price change, at a cost of a few calls.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from exact_online_core.api import ExactOnline
from exact_online_core.config import ExactConfig
from exact_online_core.http import ExactClient
from exact_online_sandbox.server import Sandbox

DIVISION = 100001
STREAM = "accounting_invoice_item"


@pytest.fixture
def api(config: ExactConfig, client: ExactClient, sandbox: Sandbox) -> ExactOnline:
    sandbox.set_limits(minutely=100000, daily=100000)
    return ExactOnline(config, client=client, clock=sandbox.now)


def prices_in_exact(client: ExactClient) -> dict[str, float | None]:
    rows = client.iter_rows("logistics/Items", division=DIVISION,
                            params={"$select": "ID,StandardSalesPrice"})
    return {str(r["ID"]).lower(): r["StandardSalesPrice"] for r in rows}


def read(api: ExactOnline, since: int | None = None) -> tuple[list[dict[str, Any]], Any]:
    pages = list(api.read_pages(STREAM, DIVISION, since=since))
    return [r for p in pages for r in p.records], pages[-1].bookmark


def test_a_first_sync_gives_every_item_the_price_exact_shows(
    api: ExactOnline, client: ExactClient
) -> None:
    items, _ = read(api)
    expected = prices_in_exact(client)
    assert any(price is not None for price in expected.values())
    assert {r["id"]: r["price"] for r in items} == expected


def test_a_changed_standard_price_arrives_with_the_next_incremental_read(
    api: ExactOnline, client: ExactClient
) -> None:
    items, bookmark = read(api)
    item = items[0]["id"]
    client.post("logistics/SalesItemPrices", {"Item": item, "Price": 123.45},
                division=DIVISION)
    changed, _ = read(api, since=bookmark)
    assert [(r["id"], r["price"]) for r in changed] == [(item, 123.45)]


def test_a_first_sync_reads_the_prices_once_not_per_item(
    api: ExactOnline, sandbox: Sandbox
) -> None:
    sandbox.set_limits(page_size=10)  # type: ignore[arg-type]
    sandbox.clear_calls()
    items, _ = read(api)
    made = sandbox.calls()["by_endpoint"]
    assert made["GET sync/Logistics/Items"] == math.ceil(len(items) / 10)
    assert made["GET bulk/Logistics/Items"] == math.ceil(len(items) / 10)
