"""The base stream: one partition per Exact division, pages and bookmarks from the core.

The SDK's own HTTP machinery is not used: ``exact_online_core`` already owns paging, rate
limits, retries and the mapping to unified records. A stream here only turns the core's
pages into Singer records and checkpoints a safe bookmark after every page, so an
interrupted run resumes where it stopped. When a checkpoint becomes a STATE message is the
tap's cadence (checkpoints.py: once the records since the last STATE outnumber its
bookmarks, and at the end); in batch mode (``batch_config``) never before the BATCH message
that announces the page's records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream, metrics, singerlib
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.types import Context
from typing_extensions import override

from exact_online_core.api import RecordPage
from exact_online_core.errors import DailyLimitExceededError
from tap_exact_online.output import SingerOutput, plain_records
from tap_exact_online.state import DELETED_SINCE, PARTITION_KEY

if TYPE_CHECKING:
    from tap_exact_online.tap import TapExactOnline



class ExactStream(Stream):
    """A unified model (or custom stream) read from Exact, partitioned by division."""

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    """The core's records are JSON-ready and typed to the schema already; the SDK's per-value
    conformance pass cost about 16 % of the tap's CPU (benchmarks, docs/benchmarks.md)."""

    deletes: bool = False
    """Fold ``sync/Deleted`` rows of this model into the stream as ``_sdc_deleted_at``."""

    def __init__(self, tap: TapExactOnline, name: str, *, replication_key: str | None) -> None:
        self.exact_tap = tap
        super().__init__(tap, schema=tap.api.schema(name), name=name)
        self.replication_key = replication_key
        self.primary_keys = [PARTITION_KEY, "id"]

    @override
    def apply_catalog(self, catalog: singerlib.Catalog) -> None:
        """Let Meltano's ``forced-replication-method`` metadata win over the discovered one.

        The SDK prefers the catalog entry's top-level ``replication_method`` (INCREMENTAL
        from discovery), so ``metadata: {"*": {forced-replication-method: FULL_TABLE}}``
        (a full refresh with ACTIVATE_VERSION for hard deletes) would be ignored.
        """
        super().apply_catalog(catalog)
        entry = catalog.get_stream(self.name)
        forced = entry.metadata.root.forced_replication_method if entry else None
        if forced:
            self.forced_replication_method = forced

    # -- partitions --------------------------------------------------------------

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        return [{PARTITION_KEY: division} for division in self.exact_tap.divisions]

    # -- reading -----------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        division = int((context or {})[PARTITION_KEY])
        pages = self.exact_tap.opened_pages(self.name, division)
        if pages is None:
            return  # refused by Exact and skip_unauthorized_streams is set
        rows, logged = 0, -1
        tap = self.exact_tap
        direct = self._direct_writes
        partition = self._get_state_partition_context(context) if direct else None
        writing = False  # an error writing stdout is not the source's: no STATE after it
        try:
            for page in pages:
                tap.page_open = True  # a SIGTERM now stops after the checkpoint
                if direct:
                    writing = True
                    self._write_records(page.records, partition)
                    writing = False
                else:
                    yield from page.records
                self.checkpoint(context, page.bookmark, {**page.state, **self.deletions_start(
                    division)}, len(page.records))
                tap.page_open = False
                tap.stop_if_requested()
                rows += len(page.records)
                if rows != logged:  # a state-only page (invoices' receivables) adds no line
                    self.log_progress(division, rows)
                    logged = rows
            if self.deletes:
                tap.page_open = True
                if direct:
                    deleted = list(self.exact_tap.deletion_feed.for_stream(self.name, division))
                    writing = True
                    self._write_records(deleted, partition)
                    writing = False
                    self._deletions_checkpoint(context, division, len(deleted))
                else:
                    yield from self.deleted_records(context, division)
                tap.page_open = False
                tap.stop_if_requested()
        except DailyLimitExceededError as exc:
            self.write_state_now()
            self.exact_tap.daily_limit_reached(self.name, division, exc)
        except Exception:
            if not writing:
                self.write_state_now()
            raise

    def log_progress(self, division: int, rows: int) -> None:
        """One concise line per page: where the sync is and what the call budget has left."""
        budget = self.exact_tap.api.client.rate_limiter.snapshot(division).describe()
        self.logger.info("%s division %s: %d rows so far; %s", self.name, division, rows, budget)

    def open_pages(self, division: int) -> Iterator[RecordPage]:
        """The core's page iterator for ``division``, from this stream's bookmark."""
        state = self.get_context_state({PARTITION_KEY: division})
        return iter(
            self.exact_tap.api.read_pages(
                self.name,
                division,
                since=state.get("replication_key_value"),
                state=state,
                properties=self.selected_properties(),
                filter=self.exact_tap.filter_for(self.name),
                start_date=self.exact_tap.start_date,
            )
        )

    def deleted_since(self, division: int) -> int | None:
        """The sync/Deleted Timestamp this stream applied up to (None: never synced)."""
        value = self.get_context_state({PARTITION_KEY: division}).get(DELETED_SINCE)
        return int(value) if value is not None else None

    def deletions_start(self, division: int) -> dict[str, Any]:
        """On a first sync: where the deletion feed stood before this stream's first page.

        Saved with the first page's checkpoint, so a first sync that is interrupted and
        resumed still gets every deletion made after its first page was read (without it
        the resumed run would count as a first sync again and skip them).
        """
        if not self.deletes or self.deleted_since(division) is not None:
            return {}
        start = self.exact_tap.deletion_feed.bookmark(division)
        return {} if start is None else {DELETED_SINCE: start}

    def deleted_records(self, context: Context | None, division: int) -> Iterable[dict[str, Any]]:
        records = 0
        for record in self.exact_tap.deletion_feed.for_stream(self.name, division):
            records += 1
            yield record
        self._deletions_checkpoint(context, division, records)

    def _deletions_checkpoint(self, context: Context | None, division: int, records: int) -> None:
        bookmark = self.exact_tap.deletion_feed.bookmark(division)
        if bookmark is not None:
            self.checkpoint(context, None, {DELETED_SINCE: bookmark}, records)

    def selected_properties(self) -> list[str] | None:
        """The properties the catalog selects, as singer-sdk resolves them (an explicit
        ``selected`` wins, automatic ones are always in, one left unset follows its
        ``selected-by-default``, else its stream); they drive Exact's ``$select``. None: all."""
        names = list(self.schema["properties"])
        selected = [name for name in names if self.mask[("properties", name)]]
        return None if len(selected) == len(names) else selected

    # -- bookmarks ---------------------------------------------------------------

    def checkpoint(
        self, context: Context | None, bookmark: Any, extra: Mapping[str, Any] | None,
        records: int,
    ) -> None:
        """Store a page-safe bookmark (and extra state) after the page's ``records`` records;
        a STATE follows when the tap's cadence says so (checkpoints.py)."""
        state = self.get_context_state(context)
        changes: dict[str, Any] = {}
        if bookmark is not None and self.replication_key:
            changes["replication_key"] = self.replication_key
            changes["replication_key_value"] = bookmark
        changes.update(extra or {})
        state.update(changes)  # in one step: a STATE written on SIGTERM sees all or none
        _ = self.stream_state
        cadence = self.exact_tap.state_cadence
        cadence.covered(records)
        if not self.batch_mode:
            # In batch mode the page's records may still sit in a batch file not yet
            # announced: the SDK offers this state right after the next BATCH message.
            cadence.offer(self.tap_state)

    @override
    def _write_state_message(self) -> None:
        """The SDK's STATE points (every 10,000 records, after each BATCH message, at the end
        of a stream) follow the tap's cadence too: due or not, as after a page."""
        self.exact_tap.state_cadence.offer(self.tap_state)

    @override
    def finalize_state_progress_markers(self, state: dict[str, Any] | None = None) -> None:
        """After the last stream of the run: its last STATE, always (unless a repeat)."""
        super().finalize_state_progress_markers(state)
        if self is self.exact_tap.last_stream:
            self.exact_tap.state_cadence.write(self.tap_state)
            self.exact_tap.state_cadence.log_totals()

    def write_state_now(self) -> None:
        """The run stops here (an error, a spent budget): a STATE for the pages written.

        Not in batch mode: there the records of the pages checkpointed may sit in a batch
        file that no BATCH message announced, and a STATE must not claim them.
        """
        if not self.batch_mode:
            self.exact_tap.state_cadence.write(self.tap_state)

    # -- records ---------------------------------------------------------------------

    @cached_property
    def _plain_records(self) -> bool:
        return plain_records(self)

    @override
    def _write_record_message(self, record: dict[str, Any]) -> None:
        """The SDK's RECORD message, written straight when its per-record steps would not
        change the record (output.py); through the SDK otherwise (stream maps, deselected
        properties)."""
        if not self._plain_records:
            super()._write_record_message(record)
            return
        writer = self._tap.message_writer
        assert isinstance(writer, SingerOutput)
        writer.write_record(self.name, record, self._stream_version)
        self.state_manager.is_flushed = False

    @cached_property
    def _direct_writes(self) -> bool:
        """Pages are written here, a page at a time, instead of record by record through the
        SDK's loop (``_sync_records``), where that loop would do nothing else to them: plain
        records (above), no batch files, no dry-run record limit, no child streams, the
        SDK's own ``post_process``. What it still does is done here alike: the partition's
        keys, the record count, and its STATE offer after every ``STATE_MSG_FREQUENCY``
        records of the stream's sync (:meth:`_write_records`)."""
        return (
            self._plain_records
            and not self.batch_mode
            and self.selected
            and self.ABORT_AT_RECORD_COUNT is None
            and not self.child_streams
            and type(self).post_process is Stream.post_process
        )

    _records_counter: metrics.Counter | None = None
    _records_written = 0

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None,
        log_interval: float = metrics.DEFAULT_LOG_INTERVAL,
    ) -> metrics.Counter:
        """The SDK asks once as a stream's sync starts: the pages written here count there."""
        counter = super().get_record_counter(endpoint=endpoint, log_interval=log_interval)
        self._records_counter = counter
        self._records_written = 0
        return counter

    def _write_records(self, records: list[dict[str, Any]], partition: Context | None) -> None:
        """RECORD messages for ``records``, as the SDK's loop would write them one by one."""
        if not records:
            return
        for key, value in (partition or {}).items():
            for record in records:
                if key not in record:
                    record[key] = value
        writer = self._tap.message_writer
        assert isinstance(writer, SingerOutput)
        every = self.STATE_MSG_FREQUENCY
        start, written = 0, self._records_written
        while start < len(records):
            # the SDK offers a STATE right after the record that makes the count a multiple
            end = min(len(records), start + every - written % every)
            writer.write_records(self.name, records[start:end], self._stream_version)
            written += end - start
            self._records_written = written
            if self._records_counter is not None:
                self._records_counter.increment(end - start)
            if written % every == 0:
                self._write_state_message()
            start = end
        self.state_manager.is_flushed = False

    @override
    def _process_record(
        self,
        record: dict[str, Any],
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Records carry their division already, and these streams have no child streams."""
        if self.child_streams:
            super()._process_record(record, child_context, partition_context)
            return
        for key, value in (partition_context or {}).items():
            if key not in record:
                record[key] = value

    @cached_property
    def batch_mode(self) -> bool:
        """``batch_config`` is set: records go to batch files, announced by BATCH messages."""
        return self.get_batch_config(self.config) is not None

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """Bookmarks move only at page boundaries (:meth:`checkpoint`), never per record.

        The core knows which point is safe to resume from (an invoice whose lines straddle
        two pages is held back), so the SDK's per-record bookmark would be wrong here.
        """
