"""Sales invoices and their lines from Exact's sync rows, at Exact's call floor.

``sync/SalesInvoice/SalesInvoices`` has a header row per invoice (LineNumber 0, the header's
fields and amounts) and a row per line; a change restamps the header row and the changed
line. Both invoice streams read those pages once per division and run, through a shared
:class:`~exact_online_core.invoice_log.SyncLog` (a temporary SQLite file): the line stream
emits the line rows; the invoice stream, once every page is read, builds each touched
invoice from its header row, its lines and its receivables, 1000 invoices a page. On a
first sync the log holds every line and the receivables are read once in full
(``bulk/Cashflow/Receivables``); later, the lines of the touched invoices are looked up in
``bulk/SalesInvoice/SalesInvoiceLines`` and the receivables of the processed ones in
``bulk/Cashflow/Receivables``, as many invoice ids a call as the URL takes.

Payments change the receivable only. Before the sync pages, receivables modified since
``state["receivables_since"]`` are read once; invoices among them that the sync pages did
not bring are re-read whole (``salesinvoice/SalesInvoices``, lines expanded) and emitted
afterwards, and a final page carries the new ``receivables_since``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from exact_online_core import odata
from exact_online_core.invoice_log import PageSource, SyncLog
from exact_online_core.mappings import (
    ACCOUNTING_INVOICE,
    ACCOUNTING_INVOICE_LINE_ITEM,
    RECEIVABLE_SELECT,
    TIMESTAMP_PROPERTY,
    exact_instant,
    exact_select,
    group_receivables,
    invoice_to_unified,
)
from exact_online_core.mappings.base import FieldMap
from exact_online_core.mappings.converters import parse_rfc3339
from exact_online_core.readers import (
    LEGACY_SEEN_KEY,
    SEEN_KEY,
    ModifiedWindow,
    ReadContext,
    RecordPage,
    chunks,
    combine,
    instant_since,
    key_batches,
    key_filter,
    plain_select,
    read_modified,
    rfc3339,
    timestamp_filter,
    timestamp_since,
    trim,
    updated_at,
)
from exact_online_core.spill import RowSpill
from exact_online_reference.recorded import served

INVOICES = "salesinvoice/SalesInvoices"
LINES = "salesinvoice/SalesInvoiceLines"
BULK_LINES = "bulk/SalesInvoice/SalesInvoiceLines"
RECEIVABLES = "bulk/Cashflow/Receivables"
RECEIVABLES_SINCE = "receivables_since"
RECEIVABLES_SEEN = "receivables_seen"

PAYMENT_FIELDS = frozenset({"status", "balance", "paid_at"})
NEEDED = frozenset({"status", "total_amount", "due_at", "line_items"})
PROCESSED = 50
SPECIAL_LINES = frozenset({0, 9999})
INVOICES_A_PAGE = 1000
FIRST_SYNC = "first_sync_unfinished"
"""State key: true while a sync read from Timestamp 0 has invoices left to emit."""


def _key(value: Any) -> str:
    return str(value).strip().lower()


class InvoiceLoader:
    """Whole invoices by id or from plain rows: header, all lines, receivables → unified."""

    def __init__(
        self,
        ctx: ReadContext,
        properties: Collection[str] | None = None,
        user_filter: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.properties = None if properties is None else set(properties)
        self.user_filter = user_filter
        wanted = None if self.properties is None else self.properties | NEEDED
        extra = ctx.extra(ACCOUNTING_INVOICE)
        self.select = [
            *exact_select(ACCOUNTING_INVOICE, wanted, extra, sync=False),
            "SalesInvoiceLines",
        ]
        self.need_receivables = self.properties is None or bool(PAYMENT_FIELDS & self.properties)
        self.processed: set[str] = set()

    def params(self, flt: str | None) -> dict[str, str]:
        return odata.build_params(select=self.select, filter=flt, expand="SalesInvoiceLines")

    def by_ids(self, ids: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        """Records of the invoices with these ids (missing ones are skipped), per batch."""
        for chunk in chunks(ids):
            flt = combine(self.user_filter, key_filter("InvoiceID", chunk))
            rows = [r for page in self.ctx.pages(INVOICES, self.params(flt)) for r in page.rows]
            yield self.records(rows)

    def one(self, invoice_id: str) -> dict[str, Any]:
        path = f"{INVOICES}({odata.guid(invoice_id)})"
        row = odata.parse_single(
            self.ctx.client.get(path, division=self.ctx.division, params=self.params(None))
        )
        return self.records([row])[0]

    def records(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Plain ``salesinvoice/SalesInvoices`` rows (lines expanded) → unified invoices."""
        processed = [_key(r["InvoiceID"]) for r in rows if r.get("Status") == PROCESSED]
        self.processed.update(processed)
        receivables = self.receivables(processed) if self.need_receivables else {}
        line_extra = self.ctx.extra(ACCOUNTING_INVOICE_LINE_ITEM)
        out = []
        for row in rows:
            key = _key(row["InvoiceID"])
            record = invoice_to_unified(
                row,
                self.lines(row),
                receivables.get(key),
                division=self.ctx.division,
                now=self.ctx.now,
                extra_fields=self.ctx.extra(ACCOUNTING_INVOICE),
                line_extra_fields=line_extra,
            )
            out.append(trim(record, self.properties, (TIMESTAMP_PROPERTY, "updated_at")))
        return out

    def lines(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        nav = row.get("SalesInvoiceLines")
        if isinstance(nav, dict) and isinstance(nav.get("results"), list) and not nav.get(
            "__next"
        ):
            return [odata.strip_metadata(r) for r in nav["results"]]
        if isinstance(nav, list):
            return [odata.strip_metadata(r) for r in nav]
        # deferred, or an expanded collection paged by Exact: read the lines themselves
        flt = odata.eq("InvoiceID", odata.guid(str(row["InvoiceID"])))
        rows = self.ctx.client.iter_rows(
            LINES, division=self.ctx.division, params=odata.build_params(filter=flt)
        )
        return [odata.strip_metadata(r) for r in rows]

    def receivables(self, ids: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        out: dict[str, list[Mapping[str, Any]]] = {}
        for flt in key_batches("TransactionEntryID", ids):
            params = odata.build_params(select=RECEIVABLE_SELECT, filter=flt)
            for page in self.ctx.pages(RECEIVABLES, params):
                for key, rows in group_receivables(page.rows).items():
                    out.setdefault(key, []).extend(rows)
        return out


class ReceivablesTracker:
    """Which invoices' receivables changed since the last run, and the next run's mark.

    The receivables are read in key order like any Modified window, so the mark is the time
    the read started (minus :data:`~exact_online_core.readers.MODIFIED_MARGIN`), with the
    receivables read since then remembered (see :class:`ModifiedWindow`). The first run
    reads no receivables (it reads every invoice) and starts the window at its own start.
    """

    def __init__(self, state: Mapping[str, Any] | None, now: datetime) -> None:
        state = state or {}
        since = state.get(RECEIVABLES_SINCE)
        self.since = parse_rfc3339(since) if since else None
        self.seen = state.get(RECEIVABLES_SEEN) or []
        self.window = ModifiedWindow(self.since, {SEEN_KEY: self.seen} if isinstance(
            self.seen, Mapping) else {LEGACY_SEEN_KEY: self.seen}, now)

    @property
    def old_state(self) -> dict[str, Any]:
        if self.since is None:
            return {}
        return {RECEIVABLES_SINCE: rfc3339(self.since), RECEIVABLES_SEEN: self.seen}

    @property
    def new_state(self) -> dict[str, Any]:
        return {RECEIVABLES_SINCE: self.window.bookmark,
                RECEIVABLES_SEEN: self.window.state[SEEN_KEY]}

    def changed(self, ctx: ReadContext) -> dict[str, None]:
        """InvoiceIDs (ordered) whose receivables changed since the mark; one paged read."""
        if self.since is None:
            return {}
        params = odata.build_params(select=RECEIVABLE_SELECT, filter=self.window.filter())
        out: dict[str, None] = {}
        for page in ctx.pages(RECEIVABLES, params):
            for row in page.rows:
                modified = exact_instant(row.get("Modified"))
                if self.window.admit(_key(row["ID"]), modified) and row.get("TransactionEntryID"):
                    out[_key(row["TransactionEntryID"])] = None
        return out


def read_invoices(
    ctx: ReadContext,
    since: int | str | None,
    state: Mapping[str, Any] | None,
    properties: Collection[str] | None,
    user_filter: str | None,
    start_date: datetime | None,
    log: SyncLog | None = None,
) -> Iterator[RecordPage]:
    """The ``accounting_invoice`` stream (see the module docstring); ``log``: the division's
    sync pages shared with the line stream (without one, this read has its own)."""
    loader = InvoiceLoader(ctx, properties, user_filter)
    tracker = ReceivablesTracker(state, ctx.now) if loader.need_receivables else None
    changed = tracker.changed(ctx) if tracker else {}
    keep = tracker.old_state if tracker else {}
    bookmark: int | str | None = None
    window_state: dict[str, Any] = {}
    pages = (
        _filtered(ctx, loader, since, state, start_date)
        if user_filter
        else _synced(ctx, loader, since, log or _own_log(ctx, log_start(since, state)))
    )
    for page in pages:
        for record in page.records:
            changed.pop(record["id"], None)
        bookmark, window_state = page.bookmark, page.state
        yield RecordPage(page.records, bookmark, {**window_state, **keep})
    for records in loader.by_ids(list(changed)):
        yield RecordPage(records, bookmark, {**window_state, **keep})
    if tracker is not None:
        yield RecordPage([], bookmark, {**window_state, **tracker.new_state})


def sync_source(ctx: ReadContext, since: int) -> PageSource:
    """The pages of ``sync/SalesInvoice/SalesInvoices`` after ``since``, with every property
    either invoice stream reads (header rows give invoices, line rows give lines)."""
    extra = ctx.extra(ACCOUNTING_INVOICE)
    select = list(dict.fromkeys([
        *exact_select(ACCOUNTING_INVOICE, None, extra if sync_serves(extra) else (), sync=True),
        *exact_select(ACCOUNTING_INVOICE_LINE_ITEM, None, ctx.extra(ACCOUNTING_INVOICE_LINE_ITEM),
                      sync=True),
    ]))
    params = odata.build_params(select=select, filter=timestamp_filter(since))
    return lambda: ctx.pages(ACCOUNTING_INVOICE.read_path, params)


def sync_serves(fields: Sequence[FieldMap]) -> bool:
    """Exact's sync endpoint serves these (custom) invoice properties; when it does not,
    invoice headers are read from ``salesinvoice/SalesInvoices`` instead of the header rows."""
    if not fields:
        return True
    endpoint = served(ACCOUNTING_INVOICE.read_path)
    names = set(endpoint.names) if endpoint is not None else set()
    return all(name in names for f in fields for name in (f.exact, *f.select) if name)


def log_start(since: int | str | None, state: Mapping[str, Any] | None) -> int:
    """Where the invoice stream's sync read starts: its bookmark, or 0 while a first sync is
    unfinished (a resumed first sync reads every row again, Exact's floor once more, rather
    than look up the lines of every invoice it has yet to emit)."""
    return 0 if (state or {}).get(FIRST_SYNC) else timestamp_since(since)


def _own_log(ctx: ReadContext, since: int | str | None) -> SyncLog:
    start = timestamp_since(since)
    return SyncLog(sync_source(ctx, start), start)


def _synced(ctx: ReadContext, loader: InvoiceLoader, since: int | str | None,
            log: SyncLog) -> Iterator[RecordPage]:
    """Invoices from the shared sync pages, each built once from all the rows it has there.

    An invoice's rows need not be near each other in Timestamp order (a line unchanged since
    long ago, the header row restamped by today's edit), so every page is read first (into
    the log, which the line stream reads too), then the touched invoices are built in the
    order of their newest row, :data:`INVOICES_A_PAGE` a page. A page's bookmark is the
    newest row of its last invoice: every invoice not yet emitted has a row after it, so an
    interrupted read gets it again.
    """
    start = timestamp_since(since)
    builder = _InvoiceBuilder(ctx, loader, log)
    first = {FIRST_SYNC: True} if builder.complete else {}
    try:
        n = 0
        while log.page(n) is not None:
            if n == 0:
                if builder.complete and loader.need_receivables:
                    builder.all_receivables()  # before the first page is handed out: the
                    # permission probe covers the receivables' scope too
                yield RecordPage([], start, first)
            n += 1
        bookmark = start
        for touched in log.touched(start, INVOICES_A_PAGE):
            bookmark = touched[-1][1]
            yield RecordPage(builder.build(dict(touched)), bookmark, first)
        if first:
            yield RecordPage([], bookmark, {FIRST_SYNC: False})
    finally:
        builder.close()
        log.finish(ACCOUNTING_INVOICE.name)


class _InvoiceBuilder:
    """Whole invoices from the log: the header row, the lines, the receivables.

    When the log starts at Timestamp 0 (a first sync) it holds every row of every invoice,
    so lines come from it and the receivables are read once, in full (bulk, 1000 a page).
    Otherwise the lines of the touched invoices are looked up (bulk lines, many invoice ids
    a call) and so are the receivables of the processed ones. An invoice whose header row
    is not in the log is read whole from ``salesinvoice/SalesInvoices``.
    """

    def __init__(self, ctx: ReadContext, loader: InvoiceLoader, log: SyncLog) -> None:
        self.ctx, self.loader, self.log = ctx, loader, log
        self.complete = log.since == 0
        self.headers_logged = sync_serves(ctx.extra(ACCOUNTING_INVOICE))
        self.line_extra = ctx.extra(ACCOUNTING_INVOICE_LINE_ITEM)
        self.line_select = list(dict.fromkeys([
            *plain_select(ACCOUNTING_INVOICE_LINE_ITEM, None, self.line_extra),
            "InvoiceID", "LineNumber"]))
        self._receivables: RowSpill | None = None

    def build(self, touched: Mapping[str, int]) -> list[dict[str, Any]]:
        if not touched:
            return []
        keys = list(touched)
        headers: dict[str, dict[str, Any]] = {}
        logged_lines: dict[str, list[dict[str, Any]]] = {}
        for key, rows in self.log.rows_of(keys).items():
            heads = [r for r in rows if r.get("LineNumber") == 0 and self.headers_logged]
            if heads:
                headers[key] = max(heads, key=lambda r: odata.parse_int64(r["Timestamp"]))
            logged_lines[key] = _current_lines(rows)
        records = []
        missing = [k for k in keys if k not in headers]
        for batch in self.loader.by_ids(missing):
            records.extend(batch)
        found = [k for k in keys if k in headers]
        lines = ({k: logged_lines.get(k, []) for k in found} if self.complete
                 else self.lookup_lines(found))
        processed = [k for k in found if headers[k].get("Status") == PROCESSED]
        self.loader.processed.update(processed)
        receivables = self.receivables(processed) if self.loader.need_receivables else {}
        for key in found:
            record = invoice_to_unified(
                headers[key], lines.get(key, []), receivables.get(key),
                division=self.ctx.division, now=self.ctx.now,
                extra_fields=self.ctx.extra(ACCOUNTING_INVOICE),
                line_extra_fields=self.line_extra,
            )
            records.append(trim(record, self.loader.properties,
                                (TIMESTAMP_PROPERTY, "updated_at")))
        for record in records:
            record[TIMESTAMP_PROPERTY] = touched[record["id"]]
        records.sort(key=lambda r: int(r[TIMESTAMP_PROPERTY]))
        return records

    def lookup_lines(self, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The current lines of these invoices: ``bulk/SalesInvoice/SalesInvoiceLines``
        filtered on as many InvoiceIDs as one URL takes."""
        out: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
        for flt in key_batches("InvoiceID", keys):
            params = odata.build_params(select=self.line_select, filter=flt)
            for page in self.ctx.pages(BULK_LINES, params):
                for row in page.rows:
                    out.setdefault(_key(row["InvoiceID"]), []).append(odata.strip_metadata(row))
        return out

    def receivables(self, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        if not keys:
            return {}
        if not self.complete:
            return {k: [dict(r) for r in v] for k, v in self.loader.receivables(keys).items()}
        return self.all_receivables().get(keys)

    def all_receivables(self) -> RowSpill:
        """Every receivable, read once (a first sync), by the invoice it belongs to."""
        if self._receivables is None:
            spill = RowSpill()
            params = odata.build_params(select=RECEIVABLE_SELECT)
            for page in self.ctx.pages(RECEIVABLES, params):
                spill.add((key, dict(row)) for key, rows in group_receivables(page.rows).items()
                          for row in rows)
            self._receivables = spill
        return self._receivables

    def close(self) -> None:
        if self._receivables is not None:
            self._receivables.close()
            self._receivables = None


def _current_lines(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The line rows (no header row), one per line ID, as plain line rows (no sync-only
    properties, so a line nested in an invoice is the same whichever way it was read)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        if row.get("LineNumber") in SPECIAL_LINES or row.get("ID") is None:
            continue
        key = _key(row["ID"])
        if key not in latest or odata.parse_int64(row["Timestamp"]) >= odata.parse_int64(
                latest[key]["Timestamp"]):
            latest[key] = row
    drop = {"Timestamp", "Created", "Modified"}
    return [{k: v for k, v in r.items() if k not in drop} for r in latest.values()]


def _filtered(
    ctx: ReadContext,
    loader: InvoiceLoader,
    since: int | str | None,
    state: Mapping[str, Any] | None,
    start_date: datetime | None,
) -> Iterator[RecordPage]:
    window = ModifiedWindow(instant_since(since, start_date), state, ctx.now)
    params = loader.params(combine(loader.user_filter, window.filter()))
    yield from read_modified(
        ctx, INVOICES, params, window, loader.records,
        key_of=lambda r: str(r["id"]), modified_of=updated_at,
    )


def read_lines(
    ctx: ReadContext,
    since: int | str | None,
    properties: Collection[str] | None,
    user_filter: str | None,
    log: SyncLog | None = None,
) -> Iterator[RecordPage]:
    """``accounting_invoice_line_item``: one record per line row of the sync pages (the
    header rows only move the bookmark), read from ``log`` when the invoice stream shares it.

    With a filter: ``bulk/SalesInvoice/SalesInvoiceLines`` with it, in full each run (lines
    have no ``Modified``), bookmark None.
    """
    model = ACCOUNTING_INVOICE_LINE_ITEM
    extra = ctx.extra(model)
    if user_filter:
        wanted = None if properties is None else {*properties, "invoice_id", "line_number"}
        select = plain_select(model, wanted, extra)
        params = odata.build_params(select=select, filter=combine(user_filter))
        for page in ctx.pages(BULK_LINES, params):
            yield RecordPage([trim(ctx.unify(model, r), properties) for r in page.rows], None, {})
        return
    log = log or _own_log(ctx, since)
    start = bookmark = timestamp_since(since)
    n = 0
    try:
        while (rows := log.page(n)) is not None:
            n += 1
            records = []
            for row in rows:
                stamp = odata.parse_int64(row["Timestamp"])
                if stamp <= start:
                    continue
                bookmark = max(bookmark, stamp)
                if row.get("LineNumber") in SPECIAL_LINES or row.get("ID") is None:
                    continue
                records.append(trim(ctx.unify(model, row), properties, (TIMESTAMP_PROPERTY,)))
            yield RecordPage(records, bookmark, {})
    finally:
        log.finish(model.name)
