"""Lines that Exact gives neither Timestamp nor Modified, read with their header's changes.

``purchaseentry/PurchaseEntryLines`` has no ``Timestamp`` and no ``Modified``: read on its own
it is the whole table every run. Its header ``purchaseentry/PurchaseEntries`` has ``Modified``
and holds the lines as the collection ``PurchaseEntryLines``; Exact saves an entry with its
lines (the recorded POST of a purchase entry answers a ``Modified`` later than its
``Created``, equal to the ``Modified`` of the entry's ledger lines), so a written line moves its
entry's ``Modified``. One read of the headers changed since the bookmark, lines expanded,
gives every line of every changed header: 60 headers a call (a header with more than 60
lines continues at its nested ``__next``), and a run with no change costs one call.
Each record carries its header's ``Modified`` (``entry_modified``) as its bookmark property.
Exact logs no deletion of such a header or line (``sync/Deleted`` has no EntityType for
them): a removed line is not reported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import Any

from exact_online_core import odata
from exact_online_core.errors import MalformedResponseError
from exact_online_core.mappings import CustomStream
from exact_online_core.mappings.converters import parse_rfc3339
from exact_online_core.readers import (
    ModifiedWindow,
    ReadContext,
    RecordPage,
    collection_rows,
    custom_record,
    instant_since,
    raw_value,
)


def read_by_header(
    ctx: ReadContext,
    stream: CustomStream,
    since: int | str | None,
    state: Mapping[str, Any] | None,
    start_date: datetime | None,
    properties: Collection[str] | None = None,
) -> Iterator[RecordPage]:
    """The lines of the headers changed since the bookmark (all of them on a first sync),
    one RecordPage per header page; the bookmark moves on the last page only (a Modified
    window, :class:`ModifiedWindow`: headers read at or after it are remembered with their
    ``Modified`` and skipped while unchanged)."""
    header = stream.header
    assert header is not None, stream.name
    stream = stream.narrowed(properties)
    window = ModifiedWindow(instant_since(since, start_date), state, ctx.now)
    params = odata.build_params(
        select=(header.key, "Modified", header.collection), filter=window.filter(),
        expand=header.collection,
    )
    wanted = {"division", *(stream.out(n) for n in stream.select)}
    stamp = stream.replication_property
    assert stamp is not None, stream.name

    def rest(next_url: str, prop: str) -> Iterator[dict[str, Any]]:
        where = f"{header.endpoint} ({prop})"
        for page in ctx.client.iter_next_pages(next_url, division=ctx.division, endpoint=where):
            yield from page.rows

    for page in ctx.pages(header.endpoint, params):
        records: list[dict[str, Any]] = []
        for row in page.rows:
            modified = raw_value("Modified", row.get("Modified"))
            when = parse_rfc3339(modified) if modified else None
            if not window.admit(str(row.get(header.key)), when):
                continue
            lines = collection_rows(stream.name, header.collection,
                                    row.get(header.collection), rest)
            if lines is None:
                raise MalformedResponseError(
                    f"{stream.name}: {header.endpoint} answered without the expanded "
                    f"{header.collection} it was asked for; refused rather than lose lines"
                )
            for line in lines:
                record = custom_record(line, ctx.division, stream)
                record = {k: v for k, v in record.items() if k in wanted}
                record[stamp] = modified
                records.append(record)
        if page.next_url is None:
            yield RecordPage(records, window.bookmark, window.state)
        else:
            yield RecordPage(records, window.incoming_bookmark, window.incoming_state)


__all__ = ["read_by_header"]
