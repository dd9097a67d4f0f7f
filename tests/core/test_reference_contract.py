"""The connector asks Exact only for what Exact serves: every property the core selects,
filters on or writes, on every endpoint it calls, exists there with that method.

"What Exact serves" is Exact's API reference (``exact_online_reference``) with the facts real
recorded answers add (``exact_online_reference.recorded``: users/Users, InvoiceDate taken on
POST, …). A property the core writes elsewhere than on the entity (an item's price) names its
route in :data:`exact_online_core.writers.ROUTED`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from exact_online_core.api import BULK_PATHS
from exact_online_core.invoices_reader import BULK_LINES, INVOICES, LINES, RECEIVABLES
from exact_online_core.mappings import (
    ACCOUNTING_INVOICE,
    ACCOUNTING_INVOICE_LINE_ITEM,
    GENERIC_WORKSPACE,
    MODELS,
    RECEIVABLE_SELECT,
    Model,
    exact_select,
)
from exact_online_core.readers import DELETED_SELECT, SYNC_ONLY, plain_select
from exact_online_core.writers import ROUTED
from exact_online_reference.recorded import served

MODEL_IDS = sorted(MODELS)
SYNC_MODELS = sorted(name for name, m in MODELS.items() if m.read_kind == "sync")


def missing(path: str, names: Iterable[str], method: str = "GET") -> list[str]:
    """Names ``path`` does not serve for ``method`` (all of them when there is no such path)."""
    endpoint = served(path)
    if endpoint is None:
        return [f"{path} is not an endpoint of Exact"]
    out = []
    for name in names:
        prop = endpoint.property(name)
        if prop is None:
            out.append(f"{path}: no property {name}")
        elif method not in prop.methods:
            out.append(f"{path}: {name} is not taken in a {method} ({sorted(prop.methods)})")
    return out


def model(name: str) -> Model:
    return MODELS[name]


@pytest.mark.parametrize("name", SYNC_MODELS)
def test_the_sync_select_asks_only_for_what_the_sync_endpoint_serves(name: str) -> None:
    m = model(name)
    assert missing(m.read_path, exact_select(m, None, sync=True)) == []


@pytest.mark.parametrize("name", MODEL_IDS)
def test_the_plain_select_asks_only_for_what_the_plain_and_bulk_endpoints_serve(
        name: str) -> None:
    m = model(name)
    select = plain_select(m, None, ())
    paths = {m.entity}  # retrieve and find
    if name in BULK_PATHS:  # a sync model read with a user's $filter
        paths.add(BULK_PATHS[name])
    if m.read_kind != "sync":
        paths.add(m.read_path)
    if m is ACCOUNTING_INVOICE_LINE_ITEM:
        paths.add(BULK_LINES)
    assert [p for path in sorted(paths) for p in missing(path, select)] == []


@pytest.mark.parametrize("name", MODEL_IDS)
def test_every_written_property_is_taken_by_the_endpoint_the_core_writes_it_to(
        name: str) -> None:
    m = model(name)
    problems: list[str] = []
    route = ROUTED.get(name)
    for f in m.fields:
        if not f.is_writable or f.nested or f.exact is None:
            continue
        for method, exact in (("POST", f.create_exact or f.exact),
                              ("PUT", None if f.create_only else f.exact)):
            if exact is None:
                continue
            if route is not None and exact == route[0]:
                problems += missing(route[1], [route[2], route[3]], method)
            else:
                problems += missing(m.entity, [exact], method)
    assert problems == []


@pytest.mark.parametrize("name", MODEL_IDS)
def test_every_exact_property_a_mapping_may_name_is_served_on_the_entity(name: str) -> None:
    """``exact_types`` bounds custom field mappings, which the core then selects."""
    m = model(name)
    sync_only = SYNC_ONLY.get(name, frozenset())
    problems = missing(m.entity, sorted(set(m.exact_types) - sync_only))
    if sync_only:
        problems += missing(m.read_path, sorted(sync_only))
    assert problems == []


def test_the_invoice_reads_ask_only_for_what_exact_serves() -> None:
    m = ACCOUNTING_INVOICE
    header = exact_select(m, None, sync=False)
    assert missing(INVOICES, [*header, "SalesInvoiceLines"]) == []
    assert missing(m.read_path, ["InvoiceID", "Timestamp", "Modified"]) == []
    assert missing(RECEIVABLES, RECEIVABLE_SELECT) == []


def test_the_filters_name_properties_the_endpoints_serve() -> None:
    filtered = [
        *(("sync/" in m.read_path and m.read_path, "Timestamp") for m in MODELS.values()),
        (RECEIVABLES, "Modified"), (RECEIVABLES, "TransactionEntryID"),
        (INVOICES, "InvoiceID"), (LINES, "InvoiceID"), ("sync/Deleted", "Timestamp"),
        (GENERIC_WORKSPACE.read_path, "Code"),
        *((m.entity, "Modified") for m in MODELS.values() if m.read_kind == "modified"),
        *((BULK_PATHS[n], "Modified") for n in BULK_PATHS),
        ("logistics/SalesItemPrices", "Item"), ("logistics/SalesItemPrices", "Account"),
    ]
    problems = [p for path, name in filtered if path for p in missing(path, [name])]
    assert problems == []


def test_sync_deleted_is_read_with_what_it_serves() -> None:
    assert missing("sync/Deleted", [*DELETED_SELECT, "EntityType"]) == []
