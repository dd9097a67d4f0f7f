"""The built-in financial and operational pack: Exact's ledger, orders and purchasing as streams.

Data, not code: :data:`PACK` lists the endpoint of each stream, each on the cheapest endpoint
Exact offers (``sync/`` where Exact has one, else ``bulk/`` at 1000 rows a page, else the plain
endpoint). Everything else is derived by one rule through the machinery of typed custom streams
(:mod:`exact_online_core.reference_schema`): the stream is ``exact_`` + the snake_case of the
endpoint's entity, each property the snake_case of Exact's name, the entity's key ``id`` (the
primary key ``["division", "id"]`` as for the unified models), the schema, replication and
deletions from Exact's API reference.
"""

from __future__ import annotations

from functools import cache

from exact_online_core.mappings.custom import CustomStream
from exact_online_core.readers import custom_deleted_type
from exact_online_core.reference_schema import (
    EDM_JSON,
    default_replication,
    default_select,
    header_of,
    identity_key,
    snake_case,
)
from exact_online_reference import reference

PREFIX = "exact_"

PACK: tuple[str, ...] = (
    # the ledger
    "sync/Financial/TransactionLines",
    "sync/Financial/GLAccounts",
    "sync/Financial/GLClassifications",
    "financial/GLAccountClassificationMappings",
    "financial/Journals",
    "vat/VATCodes",
    "financial/FinancialPeriods",
    "financial/ReportingBalance",
    # sales
    "sync/SalesOrder/SalesOrderHeaders",
    "sync/SalesOrder/SalesOrderLines",
    "sync/CRM/QuotationHeaders",
    "sync/CRM/QuotationLines",
    # purchasing
    "purchase/PurchaseInvoices",
    "purchase/PurchaseInvoiceLines",
    "purchaseentry/PurchaseEntries",
    "purchaseentry/PurchaseEntryLines",
    "sync/PurchaseOrder/PurchaseOrders",  # one row per order line, the order's fields on it
    # cash, projects, prices, budgets
    "bulk/Cashflow/Payments",
    "bulk/Cashflow/Receivables",
    "sync/Project/Projects",
    "sync/Logistics/SalesItemPrices",
    "budget/Budgets",
)
"""The endpoint of each pack stream."""


def stream_name(endpoint: str) -> str:
    """The naming rule for streams: ``exact_`` + snake_case of the entity
    (``sync/Financial/TransactionLines`` → ``exact_transaction_lines``)."""
    return PREFIX + snake_case(endpoint.rsplit("/", 1)[-1])


def pack_stream(path: str) -> CustomStream:
    """One pack stream: every property a GET returns (renamed by :func:`snake_case`), keyed
    ``id``, replicated as its endpoint family allows; lines with neither ``Timestamp`` nor
    ``Modified`` are read with their header's changes where the reference has a header
    (:func:`header_of`)."""
    endpoint = reference().endpoint(path)
    if endpoint is None:
        raise ValueError(f"pack: Exact's API reference has no endpoint {path}")
    keys = identity_key(endpoint)
    # an ID that is not the row's key (sales order headers' own ID) would also be named id
    select = tuple(dict.fromkeys(
        (*keys, *(n for n in default_select(endpoint) if snake_case(n) != "id"))))
    replication = default_replication(endpoint)
    header = header_of(endpoint) if replication is None else None
    stream = CustomStream(
        name=stream_name(path), endpoint=endpoint.path, primary_keys=keys, select=select,
        replication_key=header.modified if header else replication, rename=True,
        header=header,
    )
    names = [stream.out(n) for n in select]
    if len(set(names)) != len(names):
        raise ValueError(f"pack: {path} has two properties with one snake_case name")
    return stream


@cache
def pack_streams() -> tuple[CustomStream, ...]:
    """Every pack stream, in :data:`PACK` order."""
    return tuple(pack_stream(path) for path in PACK)


__all__ = ["PACK", "PREFIX", "pack_stream", "pack_streams", "stream_name"]


PACK_DOC = """\
## The financial and operational pack

Streams of Exact's own entities, beside the unified models: the ledger (transaction lines, GL
accounts, classifications and the account-classification mappings, journals, VAT codes,
financial periods, reporting balances), sales orders and quotations with their lines,
purchase invoices, entries and orders with their lines, payments, receivables, projects,
sales item prices and budgets. Each reads the cheapest endpoint Exact offers (`sync/` where
Exact has one, else `bulk/`, else the plain endpoint at 60 rows a page).

They are in the catalog but **not selected by default**: selecting them by default would add
22 tables and their calls to every existing pipeline. Select them like any stream, e.g.
`meltano select tap-exact-online exact_transaction_lines "*"`.

One naming rule, applied mechanically (`exact_online_core/pack.py`, `snake_case`): a stream is
`exact_` + the snake_case of the endpoint's entity (`sync/Financial/TransactionLines` →
`exact_transaction_lines`), a property the snake_case of Exact's property name
(`GLAccountCode` → `gl_account_code`, `VATAmountFC` → `vat_amount_fc`), except the entity's key,
which is `id`; the primary key is `["division", "id"]`. Exact's `Division` is the record's
`division`. Types come from Exact's API reference (Guid → string/uuid, DateTime → date-time,
Double → number, Int16/32/64 and Byte → integer, Boolean → boolean), so a warehouse gets
typed columns. Replication: `sync/` streams by `timestamp` (Exact's row version), with
their deletions from `sync/Deleted` as `_sdc_deleted_at` records where Exact logs the entity
(EntityType below); plain and `bulk/` streams by a `modified` window; the two whose entity
has neither are read in full each run (their calls are their table's pages).
`exact_purchase_orders` has one row per order line (`sync/PurchaseOrder/PurchaseOrders`), the
order's fields on each; `id` is the line's, `purchase_order_id` the order's.

`exact_purchase_entry_lines`: Exact gives purchase entry lines neither `Timestamp` nor
`Modified`, but saves an entry with its lines, so a written line moves its entry's `Modified`
(a recorded creation of a purchase entry answers a `Modified` later than its `Created`, equal
to the `Modified` of the entry's ledger lines).
So the lines are read with their entries: `purchaseentry/PurchaseEntries` changed since the
bookmark, `$expand=PurchaseEntryLines`, 60 entries a call (fewer calls than the lines
endpoint's own pages on a first sync; one call per division when nothing changed), every
line of a changed entry again. Each line carries its entry's `Modified` as
`entry_modified`, the stream's bookmark. Exact logs no deletion of purchase entries or
their lines (`sync/Deleted` has no EntityType for them): a line removed from an entry, or
the lines of a deleted entry, stay in the warehouse until a full refresh (`ACTIVATE_VERSION`
with `hard_delete`, [meltano.md](meltano.md), "Deleted rows").
With a `filters` entry the stream reads `purchaseentry/PurchaseEntryLines` in full instead.

| stream | Exact endpoint | replication | deletions |
|---|---|---|---|
"""


def render_pack() -> str:
    """The pack's section of docs/models.md, from :data:`PACK` and Exact's API reference."""
    rows, details = [], []
    for stream in pack_streams():
        kind = stream.replication_property or "full table"
        code = custom_deleted_type(stream)
        deleted = f"EntityType {code}" if code is not None else "no"
        where = f"`{stream.endpoint}`"
        if stream.header is not None:
            where += f" (read as `{stream.header.endpoint}`, `$expand={stream.header.collection}`)"
        rows.append(f"| `{stream.name}` | {where} | {kind} | {deleted} |")
        endpoint = stream.reference
        assert endpoint is not None
        props = []
        for name in stream.select:
            prop = endpoint.property(name)
            edm = prop.type if prop is not None and prop.type else "any"
            json_type = EDM_JSON.get(edm, {}).get("format") or EDM_JSON.get(edm, {}).get("type")
            props.append(f"`{stream.out(name)}` {json_type or 'any'}")
        if stream.header is not None:
            props.append(f"`{stream.replication_property}` date-time (its entry's)")
        details.append(f"### {stream.name}\n\n{', '.join(props)}.")
    return PACK_DOC + "\n".join(rows) + "\n\n" + "\n\n".join(details) + "\n"
