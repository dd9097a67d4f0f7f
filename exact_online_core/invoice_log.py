"""One read of the invoice sync rows per division and run, shared by both invoice streams.

``sync/SalesInvoice/SalesInvoices`` feeds ``accounting_invoice`` and
``accounting_invoice_line_item`` alike. A :class:`SyncLog` reads its pages from Exact once,
on demand, and keeps every row in a temporary SQLite file (never all in memory): the stream
that asks first reads Exact, the other reads the same pages from the file. The invoice
stream also looks rows up by invoice there, to join an invoice's header row with line rows
that came on other pages. The file is made and read with the helpers of
:mod:`exact_online_core.spill`, which also holds the other spills of a first sync.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from exact_online_core import odata
from exact_online_core.spill import IN_CHUNK, connect, insert

PageSource = Callable[[], Iterator[odata.Page]]


class SyncLog:
    """The pages of one sync read (``Timestamp gt since``), read from Exact at most once.

    :meth:`page` gives page ``n`` (0-based) in Exact's order, reading Exact only for a page
    no consumer has asked for yet; :meth:`rows_of` gives the rows read so far of some
    invoices. An error reading Exact is raised to every consumer that reaches that page.
    """

    def __init__(self, source: PageSource, since: int) -> None:
        self.since = since
        self.consumers: set[str] = set()
        self.finished: set[str] = set()
        self._source_factory = source
        self._source: Iterator[odata.Page] | None = None
        self._lock = threading.RLock()
        self._sizes: list[int] = []
        self._last: tuple[int, list[dict[str, Any]]] | None = None
        self._done = False
        self._error: BaseException | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(
            prefix="exact-invoice-sync-")
        self._db = connect(self._dir.name)
        self._db.execute(
            "CREATE TABLE rows (page INTEGER, invoice TEXT, stamp INTEGER, data TEXT)")
        self._db.execute("CREATE INDEX rows_page ON rows (page)")
        self._db.execute("CREATE INDEX rows_invoice ON rows (invoice)")

    @property
    def closed(self) -> bool:
        return self._dir is None

    def page(self, n: int) -> list[dict[str, Any]] | None:
        """The rows of page ``n``; None after the last page."""
        with self._lock:
            while n >= len(self._sizes) and not self._done:
                self._fetch()
            if n >= len(self._sizes):
                return None
            if self._last is not None and self._last[0] == n:
                return self._last[1]
            return [json.loads(data) for (data,) in self._db.execute(
                "SELECT data FROM rows WHERE page = ? ORDER BY rowid", (n,))]

    def rows_of(self, invoices: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every row read so far of these invoices (lowercase ids), in the order read."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self._lock:
            for start in range(0, len(invoices), IN_CHUNK):
                chunk = list(invoices[start:start + IN_CHUNK])
                marks = ",".join("?" * len(chunk))
                for key, data in self._db.execute(
                        f"SELECT invoice, data FROM rows WHERE invoice IN ({marks}) "
                        "ORDER BY rowid", chunk):
                    out.setdefault(key, []).append(json.loads(data))
        return out

    def touched(self, after: int, size: int) -> Iterator[list[tuple[str, int]]]:
        """(invoice, newest Timestamp) of every invoice with a row after ``after``, oldest
        newest-row first, ``size`` at a time (read every page first)."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT invoice, MAX(stamp) AS top FROM rows GROUP BY invoice "
                "HAVING top > ? ORDER BY top", (after,))
        while True:
            with self._lock:
                batch = cursor.fetchmany(size)
            if not batch:
                return
            yield [(str(key), int(top)) for key, top in batch]

    def _fetch(self) -> None:
        if self._error is not None:
            raise self._error
        if self._source is None:
            self._source = self._source_factory()
        try:
            page = next(self._source)
        except StopIteration:
            self._done = True
            return
        except BaseException as error:
            self._error = error
            raise
        n = len(self._sizes)
        rows = [odata.strip_metadata(r) for r in page.rows]
        insert(
            self._db, "INSERT INTO rows VALUES (?, ?, ?, ?)",
            ((n, str(r.get("InvoiceID")).strip().lower(), odata.parse_int64(r["Timestamp"]),
              json.dumps(r)) for r in rows))
        self._sizes.append(len(rows))
        self._last = (n, rows)
        if page.next_url is None:
            self._done = True

    def finish(self, consumer: str) -> None:
        """``consumer`` has read what it needs; the file goes once every consumer has."""
        with self._lock:
            self.finished.add(consumer)
            if self.finished >= self.consumers:
                self.close()

    def close(self) -> None:
        with self._lock:
            if self._dir is None:
                return
            if self._source is not None and hasattr(self._source, "close"):
                self._source.close()
            self._db.close()
            self._dir.cleanup()
            self._dir = None


class SyncLogs:
    """The shared logs of a run, one per division: a stream joins the division's log when it
    has not read it yet and its bookmark is not older than the log's start; otherwise it
    gets a new one (a second read in the same process starts fresh)."""

    def __init__(self) -> None:
        self._logs: dict[int, SyncLog] = {}
        self._lock = threading.Lock()

    def join(self, division: int, consumer: str, since: int, source: PageSource) -> SyncLog:
        with self._lock:
            log = self._logs.get(division)
            if (log is None or log.closed or consumer in log.consumers or since < log.since):
                log = SyncLog(source, since)
                self._logs[division] = log
            log.consumers.add(consumer)
            return log

    def close(self) -> None:
        with self._lock:
            for log in self._logs.values():
                log.close()
            self._logs.clear()
