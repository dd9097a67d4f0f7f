"""tap-exact-online: settings, the stream list, and run-wide concerns (divisions, permissions)."""

from __future__ import annotations

import gc
import itertools
import sys
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cached_property
from types import FrameType
from typing import Any, NoReturn

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from exact_online_core.api import ExactOnline, RecordPage
from exact_online_core.config import REGIONS, ExactConfig
from exact_online_core.console import InputFileError, run
from exact_online_core.errors import (
    ConfigError,
    DailyLimitExceededError,
    ExactError,
    PermissionDeniedError,
)
from exact_online_core.odata import parse_date
from exact_online_core.version import DISTRIBUTION
from tap_exact_online import GC_THRESHOLDS
from tap_exact_online.checkpoints import StateCadence
from tap_exact_online.client import ExactStream
from tap_exact_online.deletions import DeletionFeed
from tap_exact_online.metrics import request_metrics
from tap_exact_online.output import SingerOutput
from tap_exact_online.prefetch import Channel, Prefetch
from tap_exact_online.state import state_problem
from tap_exact_online.streams import build_streams

CONNECTION_SETTINGS = th.PropertiesList(
    th.Property(
        "region",
        th.StringType,
        allowed_values=list(REGIONS),
        description="Exact Online country site (nl, be, de, uk, us, fr, es). Set this or base_url.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        description="Explicit host instead of a region, e.g. the sandbox http://127.0.0.1:8765.",
    ),
    th.Property(
        "client_id", th.StringType, required=True, description="Your App Center app's client ID."
    ),
    th.Property(
        "client_secret",
        th.StringType,
        required=True,
        secret=True,
        description="Your App Center app's client secret.",
    ),
    th.Property(
        "redirect_uri", th.StringType, description="Your app's redirect URI (used by login)."
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        description="Seeds an empty token store once (e.g. from `exact-online login`); "
        "rotated tokens live in token_store afterwards.",
    ),
    th.Property(
        "token_store",
        th.StringType,
        description="Token file shared by every process of this login "
        "(default ~/.exact-online/tokens-<client_id>.json), or a "
        "postgresql://user@host:port/db URL to share it between machines.",
    ),
    th.Property(
        "divisions",
        th.CustomType(
            {
                "type": ["array", "string", "integer", "null"],
                "items": {"type": ["integer", "string"]},
            }
        ),
        description='Division codes to sync, "all" reachable divisions, or empty for the '
        "user's current division. Each division is a state partition.",
    ),
    th.Property("timeout", th.NumberType, description="HTTP timeout in seconds (default 60)."),
    th.Property(
        "max_retries", th.IntegerType, description="Retries of idempotent calls (default 5)."
    ),
)

DEFAULT_DIVISION_WORKERS = 4
"""Divisions read at once by default: four minute budgets at work, a few pages each in memory."""

TAP_SETTINGS = th.PropertiesList(
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Lower bound for the first sync where Exact allows it (users, filtered "
        "streams); later runs continue from state.",
    ),
    th.Property(
        "field_mappings",
        th.ObjectType(additional_properties=True),
        description='Custom fields per model: {"generic_company": {"kvk": "ChamberOfCommerce"}}.',
    ),
    th.Property(
        "custom_streams",
        th.ArrayType(th.ObjectType(additional_properties=True)),
        description="Extra streams on any endpoint of Exact's API reference, typed by it: "
        "name and endpoint; optional select, primary_keys, replication_key, write_endpoint.",
    ),
    th.Property(
        "filters",
        th.ObjectType(additional_properties=th.StringType),
        description="OData $filter per stream, passed to Exact: "
        '{"generic_company": "Status eq \'C\'"}.',
    ),
    th.Property(
        "check_permissions",
        th.BooleanType,
        default=False,
        description="Probe each stream's endpoint during --discover too (always before a sync).",
    ),
    th.Property(
        "skip_unauthorized_streams",
        th.BooleanType,
        default=False,
        description="Skip a stream the app's scopes do not cover (with a warning) instead "
        "of failing.",
    ),
    th.Property(
        "division_workers",
        th.IntegerType,
        default=DEFAULT_DIVISION_WORKERS,
        description="Divisions read at the same time (each has its own Exact call budget); "
        "the output is the same as with 1, which reads one division after another.",
    ),
    # The SDK honours this (capability activate-version) but does not declare it itself.
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=False,
        description="Emit ACTIVATE_VERSION messages on full-table syncs (forced-replication-"
        "method FULL_TABLE), so a target with hard_delete removes rows deleted in Exact.",
    ),
)


HELD_PAGE_ROWS = 100
"""First pages up to this size are always kept from the permission probe for their stream."""

MAX_BIG_PAGES_HELD = 16
"""Larger first pages (full syncs) kept at most: memory stays bounded with many divisions."""


class TapExactOnline(Tap):
    """Exact Online's unified models (contacts, companies, users, workspaces, invoices, invoice lines, items), incrementally per division, deletions included."""  # noqa: E501

    name = "tap-exact-online"
    package_name = DISTRIBUTION
    message_writer_class = SingerOutput
    """msgspec instead of simplejson for the Singer output (singer-sdk[msgspec]), flushed at
    each STATE instead of each record (output.py; docs/benchmarks.md)."""
    config_jsonschema = th.PropertiesList(
        *CONNECTION_SETTINGS.wrapped.values(), *TAP_SETTINGS.wrapped.values()
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The SDK's own config validation (types, required settings) ends in one
        ``error:`` line too, like the core's (:class:`ConfigError`)."""
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as error:
            problems = "; ".join(str(e) for e in error.errors) or str(error)
            raise ExactError(f"invalid config: {problems}") from None
        assert isinstance(self.message_writer, SingerOutput)
        self._state_writer = StateCadence(self.message_writer)

    @property
    def state_cadence(self) -> StateCadence:
        """Every STATE goes through this: when one is due (checkpoints.py)."""
        assert isinstance(self._state_writer, StateCadence)
        return self._state_writer

    @cached_property
    def last_stream(self) -> Stream | None:
        """The stream the SDK's ``sync_all`` syncs last: the run's last STATE follows it."""
        synced = [s for s in self.streams.values()
                  if (s.selected or s.has_selected_descendents) and not s.parent_stream_type]
        return synced[-1] if synced else None

    # -- the core ----------------------------------------------------------------

    @cached_property
    def api(self) -> ExactOnline:
        """The core for this config (a bad setting raises ConfigError, naming it)."""
        config = ExactConfig.from_mapping(self.config)
        api = ExactOnline(
            config,
            field_mappings=self.config.get("field_mappings"),
            custom_streams=self.config.get("custom_streams"),
        )
        api.client.on_response = request_metrics(self.metrics_logger)
        return api

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Refuse a damaged or foreign state with one error naming where it is wrong."""
        problem = state_problem(state)
        if problem:
            raise InputFileError(f"state: {problem}")
        super().load_state(state)

    @cached_property
    def divisions(self) -> list[int]:
        """The divisions to read; ``"all"`` lists them (``system/Divisions``) before any
        record: a daily budget spent there stops a sync like one spent on a first page."""
        try:
            return self.api.divisions()
        except DailyLimitExceededError as error:
            self.budget_spent_before_records(error)

    @cached_property
    def start_date(self) -> datetime | None:
        value = self.config.get("start_date")
        return parse_date(value) if value else None

    @cached_property
    def division_workers(self) -> int:
        """The ``division_workers`` setting (1: one division after another, no threads)."""
        value = self.config.get("division_workers", DEFAULT_DIVISION_WORKERS)
        if value is None:
            return DEFAULT_DIVISION_WORKERS
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError("division_workers", f"must be a whole number of at least 1, "
                              f"got {value!r}")
        return value

    def filter_for(self, stream: str) -> str | None:
        filters = self.config.get("filters") or {}
        value = filters.get(stream)
        return str(value) if value else None

    # -- streams -----------------------------------------------------------------

    @override
    def discover_streams(self) -> list[Stream]:
        streams = build_streams(self)
        if self.config.get("check_permissions"):
            streams = self._authorized(streams)
        return list(streams)

    @cached_property
    def deletion_feed(self) -> DeletionFeed:
        folding = [s.name for s in self._exact_streams() if s.deletes and s.selected]
        return DeletionFeed(self.api, folding, self._deleted_bookmark)

    def _deleted_bookmark(self, stream: str, division: int) -> int | None:
        exact_stream = self.streams[stream]
        assert isinstance(exact_stream, ExactStream)
        return exact_stream.deleted_since(division)

    def _exact_streams(self) -> list[ExactStream]:
        return [s for s in self.streams.values() if isinstance(s, ExactStream)]

    # -- permissions and the first pages -------------------------------------------

    _big_pages_held = 0

    @cached_property
    def _opened(self) -> dict[tuple[str, int], Iterator[RecordPage] | None]:
        """Before any record: the first page of every selected stream in every division.

        That first page is the permission probe: a stream the app's scopes do not cover
        fails here, before anything was emitted, and a stream it does cover costs no extra
        call when its page is small (the incremental case) and is kept for the sync.
        Deletions are read first, so a first sync can skip the ones it cannot see.
        """
        if self.division_workers > 1 and len(self.divisions) > 1:
            return self._opened_in_parallel()
        opened: dict[tuple[str, int], Iterator[RecordPage] | None] = {}
        refusals: list[str] = []
        for division in self.divisions:
            unreachable = self._load_deletions(division, refusals)
            for stream in self._exact_streams():
                if not stream.selected:
                    continue
                opened[(stream.name, division)] = None
                if unreachable:
                    continue
                try:
                    opened[(stream.name, division)] = self._first_page(stream, division)
                except PermissionDeniedError as error:
                    if _wrong_division(error):
                        refusals.append(_unreachable(division, error))
                        unreachable = True
                    else:
                        refusals.append(self.api.refusal(stream.name, division, error).message)
        self._refuse(refusals)
        return opened

    def _refuse(self, refusals: list[str]) -> None:
        """Fail on refused streams, or warn and go on with skip_unauthorized_streams."""
        if refusals:
            if not self.config.get("skip_unauthorized_streams"):
                raise ExactError(
                    "The Exact Online app may not read every selected stream:\n  - "
                    + "\n  - ".join(refusals)
                    + "\nFix these, deselect the streams, or set skip_unauthorized_streams "
                    "to skip them with a warning."
                )
            for message in refusals:
                self.logger.warning("Skipping %s", message)

    # -- divisions in parallel -----------------------------------------------------------------

    @cached_property
    def prefetch(self) -> Prefetch:
        limiter = self.api.client.rate_limiter
        return Prefetch(self.division_workers, limiter.ready_at, limiter.now)

    def _opened_in_parallel(self) -> dict[tuple[str, int], Iterator[RecordPage] | None]:
        """Like the sequential probe, with ``division_workers`` divisions at a time.

        Every state partition is looked up here first, in the sequential order, so the
        workers only read state and the STATE messages come out exactly as before. Then each
        division's deletions and first pages are read in parallel (the permission probe,
        before any record), and the workers go on reading every page ahead of the emitter.
        """
        selected = [s for s in self._exact_streams() if s.selected]
        feed = self.deletion_feed
        lazy: dict[int, list[tuple[ExactStream, Iterator[RecordPage]]]] = {}
        for division in self.divisions:
            for name in feed.streams:  # the order DeletionFeed.load asks in
                self._deleted_bookmark(name, division)
            lazy[division] = [(stream, stream.open_pages(division)) for stream in selected]
        _ = self.start_date
        prefetch = self.prefetch

        def probe(division: int) -> tuple[list[tuple[Channel, Iterator[RecordPage]]], list[str]]:
            refusals: list[str] = []
            started: list[tuple[Channel, Iterator[RecordPage]]] = []
            unreachable = self._load_deletions(division, refusals)
            for stream, pages in lazy[division]:
                if unreachable:
                    break
                try:
                    first = next(pages, None)
                except PermissionDeniedError as error:
                    if _wrong_division(error):
                        refusals.append(_unreachable(division, error))
                        unreachable = True
                    else:
                        refusals.append(self.api.refusal(stream.name, division, error).message)
                    continue
                channel = prefetch.channel(stream.name, division)
                if first is None:
                    prefetch.end(channel)
                else:
                    prefetch.put(channel, first)
                    started.append((channel, pages))
                self._channels[(stream.name, division)] = channel
            return started, refusals

        self._channels: dict[tuple[str, int], Channel] = {}
        with ThreadPoolExecutor(self.division_workers, "division-probe") as pool:
            probed = list(pool.map(probe, self.divisions))
        self._refuse([message for _, refusals in probed for message in refusals])
        prefetch.start(zip(self.divisions, (started for started, _ in probed), strict=True))
        opened: dict[tuple[str, int], Iterator[RecordPage] | None] = {}
        for division in self.divisions:
            for stream, _ in lazy[division]:
                channel = self._channels.get((stream.name, division))
                opened[(stream.name, division)] = (
                    None if channel is None else prefetch.pages(channel)
                )
        return opened

    def _load_deletions(self, division: int, refusals: list[str]) -> bool:
        """Read the division's deletions; True when the division is out of reach."""
        self.deletion_feed.load(division)
        refused = self.deletion_feed.refusal(division)
        if refused is None:
            return False
        if _wrong_division(refused):
            refusals.append(_unreachable(division, refused))
            return True
        streams = ", ".join(sorted(self.deletion_feed.streams))
        refusals.append(
            f"sync/Deleted in division {division} (deletions of {streams}): "
            f"{_said(refused)}. Grant the app the scope of sync/Deleted (Organization "
            "administration) in the App Center."
        )
        return False

    def _first_page(self, stream: ExactStream, division: int) -> Iterator[RecordPage]:
        """The stream's pages with the first one already read (and kept when small)."""
        pages = stream.open_pages(division)
        first = next(pages, None)
        if first is not None and len(first.records) > HELD_PAGE_ROWS:
            if self._big_pages_held >= MAX_BIG_PAGES_HELD:
                # Many divisions syncing in full: holding every first page would cost memory;
                # read this one again later (one extra call among many pages).
                if isinstance(pages, Generator):
                    pages.close()
                return stream.open_pages(division)
            self._big_pages_held += 1
        return itertools.chain([] if first is None else [first], pages)

    def opened_pages(self, stream: str, division: int) -> Iterator[RecordPage] | None:
        """The pre-opened pages of ``stream`` in ``division``; None when it is skipped.

        The first call reads every division's first pages (``_opened``): a daily budget
        spent there stops the run as cleanly as one spent on a later page (exit 3).
        """
        try:
            opened = self._opened
        except DailyLimitExceededError as error:
            self.daily_limit_reached(None, error.division or division, error)
        return opened.get((stream, division))

    def _authorized(self, streams: list[ExactStream]) -> list[ExactStream]:
        """Discovery with check_permissions (``--discover``, or a sync given no catalog):
        probe every stream in every division."""
        refused: dict[str, list[str]] = {}
        for stream in streams:
            for division in self.divisions:
                try:
                    check = self.api.probe(stream.name, division)
                except DailyLimitExceededError as error:
                    self.budget_spent_before_records(error)
                if not check.allowed:
                    refused.setdefault(stream.name, []).append(check.message)
        messages = [message for found in refused.values() for message in found]
        if messages and not self.config.get("skip_unauthorized_streams"):
            raise ExactError(
                "The Exact Online app may not read every stream: " + "; ".join(messages)
            )
        for message in messages:
            self.logger.warning("Leaving out of the catalog: %s", message)
        return [stream for stream in streams if stream.name not in refused]

    # -- clean stops -------------------------------------------------------------

    page_open = False
    """A page's records are being written and its bookmark is not yet in the state."""
    _stop_requested = False

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGINT: stop with a STATE that covers exactly the records written.

        The SDK writes the state at once. In the middle of a page some of its records are
        out but its bookmark is not in the state yet: that STATE would follow records it
        does not cover, a target would take them as committed, and the resumed run would
        send them again. So in a page the stop waits for the page's checkpoint.
        """
        if self.page_open:
            self._stop_requested = True
            return
        self.stop_now()

    def stop_if_requested(self) -> None:
        """At a page's checkpoint: the stop a signal asked for in the page, now."""
        if self._stop_requested:
            self.stop_now()

    def stop_now(self) -> NoReturn:
        """Exit 0 after a STATE covering every record written. In batch mode none: the
        pages checkpointed may sit in a batch file no BATCH message announced yet, and the
        last STATE (after the last BATCH message) is the one that covers what was sent."""
        if "prefetch" in self.__dict__:
            self.prefetch.stop()
        if not any(stream.batch_mode for stream in self._exact_streams()):
            self.state_cadence.write(self.state)
        self.logger.info("Gracefully shutting down...")
        sys.exit(0)

    _discovery_only = False
    """``--discover``: no sync, so no state to resume from and no budget stop (exit 3)."""

    @override
    def run_discovery(self) -> str:
        self._discovery_only = True
        return super().run_discovery()

    def budget_spent_before_records(self, error: DailyLimitExceededError) -> NoReturn:
        """A daily budget spent on a call a sync makes before any record (listing the
        divisions, probing permissions without a catalog): the documented stop (exit 3),
        the state handed in untouched. ``--discover`` is no sync: there the error stands
        (one ``error:`` line, exit 1)."""
        if self._discovery_only:
            raise error
        self.daily_limit_reached(None, error.division, error)

    def daily_limit_reached(
        self, stream: str | None, division: int | None, error: DailyLimitExceededError
    ) -> NoReturn:
        """Stop the whole run cleanly: the state of the pages written was just emitted.

        ``stream`` is None when the budget ran out before any record (the divisions, the
        permission probe or the first pages): nothing to save then, the next run starts
        where this one did.
        """
        if "prefetch" in self.__dict__:
            self.prefetch.stop()
        if stream is not None:
            where = f"stream {stream}, division {division}"
        elif division is not None:
            where = f"division {division}, before the first record"
        else:
            where = "before the first record"
        self.logger.error(
            "Stopping: %s (%s). State is saved; run again after the reset "
            "to continue where this run stopped.",
            error,
            where,
        )
        sys.exit(3)


def _said(error: ExactError) -> str:
    return (error.exact_message or error.message).rstrip(".")


def _wrong_division(error: ExactError) -> bool:
    return "wrongdivision" in _said(error).lower().replace(" ", "")


def _unreachable(division: int, error: ExactError) -> str:
    return (
        f"division {division}: the logged-in user cannot reach it ({_said(error)}). Fix "
        "`divisions` (`exact-online check` lists the reachable ones)."
    )


def main() -> None:
    """The console script: bad input files and Exact's errors end with one clear line.

    Everything imported so far (the SDK, its dependencies, the core's tables) lives as long
    as the process: ``gc.freeze`` takes those objects out of the collector's view, so its
    full passes, which the many records of a sync set off, no longer walk them each time
    (docs/benchmarks.md). Objects are still
    freed as before. Only the console script does this (and sets the thresholds,
    :data:`tap_exact_online.GC_THRESHOLDS`); a tap built in process (tests) is not.
    """
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    run(TapExactOnline.cli, checks={"--state": state_problem})


if __name__ == "__main__":
    main()
