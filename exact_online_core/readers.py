"""Page-at-a-time reads of Exact: sync Timestamps, Modified windows, full tables, sync/Deleted."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from exact_online_core import odata
from exact_online_core.errors import MalformedResponseError
from exact_online_core.http import ExactClient
from exact_online_core.mappings import (
    TIMESTAMP_PROPERTY,
    CustomStream,
    FieldMap,
    Model,
    exact_instant,
    exact_select,
    row_reader,
    utc_to_exact_local,
)
from exact_online_core.mappings.converters import READERS, parse_rfc3339
from exact_online_core.reference_schema import nested_endpoint
from exact_online_reference import Endpoint, Property
from exact_online_reference.deleted import deleted_type

BATCH = 25
"""Keys per ``(K eq guid'…') or …`` filter: keeps the query string well under 2 KB."""

SEEN_KEY = "seen_since_bookmark"
"""State key: {id: Modified} of the rows read at or after the bookmark (skipped while unchanged)."""
LEGACY_SEEN_KEY = "seen_at_bookmark"
"""Earlier state key: the ids read at exactly the bookmark's ``Modified``."""

MODIFIED_MARGIN = timedelta(minutes=10)
"""A Modified-windowed read bookmarks the time it started minus this: Exact's clock against
ours, and rows whose ``Modified`` was stamped before a slow save became visible."""


@dataclass(frozen=True)
class RecordPage:
    records: list[dict[str, Any]]
    bookmark: int | str | None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeletionPage:
    records: list[tuple[str, dict[str, Any]]]
    bookmark: int | None


@dataclass(frozen=True)
class ReadContext:
    """What every reader needs: the client, the division, custom columns and the time."""

    client: ExactClient
    division: int
    extra_fields: Mapping[str, tuple[FieldMap, ...]]
    now: datetime
    context: Callable[[], dict[str, Any]]  # lazily: {"currency": division currency}

    def extra(self, model: Model | str) -> tuple[FieldMap, ...]:
        return self.extra_fields.get(model if isinstance(model, str) else model.name, ())

    def pages(self, path: str, params: Mapping[str, str]) -> Iterator[odata.Page]:
        return self.client.iter_pages(path, division=self.division, params=params)

    def unify(self, model: Model, row: Mapping[str, Any]) -> dict[str, Any]:
        return self.reader(model)(row)

    def reader(self, model: Model) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        """Rows of ``model`` → unified records, compiled once (:func:`row_reader`)."""
        read = row_reader(model, tuple(self.extra(model)))
        division = self.division
        if not any(f.read == "context" for f in model.fields):
            return lambda row: read(row, division, None)
        context = self.context()
        return lambda row: read(row, division, context)


# ---------------------------------------------------------------------------------------------
# Filters and bookmarks
# ---------------------------------------------------------------------------------------------


def combine(user_filter: str | None, *exprs: str | None) -> str | None:
    """``(user) and expr and …`` with the user's raw filter parenthesised; None when empty."""
    parts = [f"({user_filter.strip()})" if user_filter and user_filter.strip() else None]
    parts += [e for e in exprs if e]
    kept = [p for p in parts if p]
    return " and ".join(kept) if kept else None


def timestamp_since(since: int | str | None) -> int:
    """A sync bookmark as an int (a date bookmark from a filtered run means: start over)."""
    if isinstance(since, bool) or since is None:
        return 0
    if isinstance(since, int):
        return since
    text = str(since).strip()
    return int(text) if text.isdigit() else 0


def timestamp_filter(since: int) -> odata.Expr:
    return odata.gt("Timestamp", odata.int64(since))


def instant_since(since: int | str | None, start_date: datetime | None) -> datetime | None:
    """A Modified bookmark (RFC 3339) as a UTC datetime; else ``start_date``; else None."""
    if isinstance(since, str) and since.strip() and not since.strip().isdigit():
        return parse_rfc3339(since).astimezone(UTC)
    if start_date is not None:
        return start_date if start_date.tzinfo else start_date.replace(tzinfo=UTC)
    return None


def modified_filter(since: datetime) -> odata.Expr:
    """``Modified ge datetime'…'`` with the instant as Exact's local wall clock."""
    return odata.ge("Modified", odata.datetime_(utc_to_exact_local(since)))


def rfc3339(value: datetime) -> str:
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


class ModifiedWindow:
    """A ``Modified ge since`` read whose next bookmark is the time the read started.

    Exact returns such a read in key order, not in ``Modified`` order, so a row of page 1
    edited while page 5 is read is not read again in this pass; the newest ``Modified`` seen
    would then bookmark past that edit. Instead the next read starts at ``now - margin``
    (``now``: when this read started), and every row read with a ``Modified`` at or after
    that point is remembered with its ``Modified``; the next read skips a row it finds
    unchanged there. A read with no changes returns nothing, a row edited at any moment
    (even during the read, even in the bookmark's millisecond) is read again.
    """

    def __init__(
        self,
        since: datetime | None,
        state: Mapping[str, Any] | None,
        now: datetime,
        margin: timedelta = MODIFIED_MARGIN,
    ) -> None:
        self.since = since
        self._incoming = dict(state or {})
        self._skip = seen_rows(state, since) if since is not None else {}
        start = now - margin
        start = start.replace(microsecond=start.microsecond // 1000 * 1000)
        self.next_since = start if since is None or since < start else since
        self.seen: dict[str, str] = {}

    def filter(self) -> odata.Expr | None:
        return modified_filter(self.since) if self.since is not None else None

    def admit(self, key: str, modified: datetime | None) -> bool:
        """Record one row; False when it was read before with this same ``Modified``."""
        if modified is None:
            return True
        stamp = rfc3339(modified)
        if modified >= self.next_since:
            self.seen[key] = stamp
        return self._skip.get(key) != stamp

    @property
    def incoming_bookmark(self) -> str | None:
        return rfc3339(self.since) if self.since is not None else None

    @property
    def incoming_state(self) -> dict[str, Any]:
        """The state this read started from (what pages before the last one carry)."""
        return {k: v for k, v in self._incoming.items() if k in (SEEN_KEY, LEGACY_SEEN_KEY)}

    @property
    def bookmark(self) -> str:
        return rfc3339(self.next_since)

    @property
    def state(self) -> dict[str, Any]:
        return {SEEN_KEY: dict(sorted(self.seen.items()))}


def seen_rows(state: Mapping[str, Any] | None, since: datetime | None) -> dict[str, str]:
    """{id: Modified} read at or after the bookmark, from this or the earlier state layout."""
    state = state or {}
    seen = state.get(SEEN_KEY)
    if isinstance(seen, Mapping):
        return {str(k): str(v) for k, v in seen.items()}
    legacy = state.get(LEGACY_SEEN_KEY) or ()
    if since is None or not isinstance(legacy, list | tuple):
        return {}
    return {str(k): rfc3339(since) for k in legacy}


def trim(
    record: dict[str, Any], properties: Collection[str] | None, keep: Iterable[str] = ()
) -> dict[str, Any]:
    """Only the wanted properties (plus the key and bookmark columns), when a subset is asked."""
    if properties is None:
        return record
    wanted = {"id", "division", *properties, *keep}
    return {k: v for k, v in record.items() if k in wanted}


def chunks(values: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


FILTER_BUDGET = 1800
"""Characters of an encoded ``$filter`` of keys: the whole query string stays under IIS's
default 2048 (Exact runs on IIS), with room for ``$select``."""


def key_batches(name: str, keys: Sequence[str], budget: int = FILTER_BUDGET
                ) -> Iterator[odata.Expr]:
    """``K eq guid'a' or K eq guid'b' or …`` filters over ``keys``, as many keys a filter as
    fit in ``budget`` characters once URL-encoded (the per-call look-up of many rows)."""
    batch: list[str] = []
    size = 0
    for key in keys:
        term = str(odata.eq(name, odata.guid(key)))
        cost = len(quote(term, safe="$,'():/@")) + len("%20or%20")
        if batch and size + cost > budget:
            yield odata.Expr(" or ".join(batch))
            batch, size = [], 0
        batch.append(term)
        size += cost
    if batch:
        yield odata.Expr(" or ".join(batch))


def key_filter(name: str, keys: Iterable[str]) -> odata.Expr:
    """``(K eq guid'a') or (K eq guid'b')`` (one key: ``K eq guid'a'``)."""
    return odata.or_(*(odata.eq(name, odata.guid(k)) for k in keys))


# ---------------------------------------------------------------------------------------------
# Unified models
# ---------------------------------------------------------------------------------------------

SYNC_ONLY = {"accounting_invoice_line_item": frozenset({"Created", "Modified"})}
"""Properties a model's sync rows have but its plain/bulk endpoint lacks (invoice lines)."""


def plain_select(
    model: Model, properties: Collection[str] | None, extra: Iterable[FieldMap]
) -> list[str]:
    """``$select`` for the model's plain or bulk endpoint (no Timestamp, no sync-only fields)."""
    drop = SYNC_ONLY.get(model.name, frozenset())
    return [n for n in exact_select(model, properties, extra, sync=False) if n not in drop]



def read_sync(
    ctx: ReadContext,
    model: Model,
    since: int | str | None,
    select: list[str],
    properties: Collection[str] | None,
) -> Iterator[RecordPage]:
    """``sync/…?$filter=Timestamp gt {since}L``: one RecordPage per Exact page."""
    bookmark = timestamp_since(since)
    params = odata.build_params(select=select, filter=timestamp_filter(bookmark))
    unify = None
    for page in ctx.pages(model.read_path, params):
        if unify is None and page.rows:  # a model that needs the division's currency asks
            unify = ctx.reader(model)   # for it with its first row, never on an empty page
        if unify is None:
            yield RecordPage([], bookmark, {})
            continue
        records = [unify(row) for row in page.rows]
        stamps = [stamp for record in records if (stamp := record[TIMESTAMP_PROPERTY])]
        bookmark = max(bookmark, *stamps) if stamps else bookmark
        if properties is not None:
            records = [trim(record, properties, (TIMESTAMP_PROPERTY,)) for record in records]
        yield RecordPage(records, bookmark, {})


def read_modified(
    ctx: ReadContext,
    path: str,
    params: Mapping[str, str],
    window: ModifiedWindow,
    convert: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    *,
    key_of: Callable[[dict[str, Any]], str],
    modified_of: Callable[[dict[str, Any]], datetime | None],
) -> Iterator[RecordPage]:
    """Pages of a Modified-windowed read, in Exact's key order (stable ``$skiptoken`` paging).

    The bookmark only moves on the last page: every earlier page carries the incoming
    bookmark and state, so an interrupted read starts again from the same point.
    """
    for page in ctx.pages(path, params):
        records = [
            r for r in convert(page.rows) if window.admit(key_of(r), modified_of(r))
        ]
        if page.next_url is None:
            yield RecordPage(records, window.bookmark, window.state)
        else:
            yield RecordPage(records, window.incoming_bookmark, window.incoming_state)


def updated_at(record: Mapping[str, Any]) -> datetime | None:
    value = record.get("updated_at")
    return parse_rfc3339(value) if value else None


def read_full(
    ctx: ReadContext,
    path: str,
    params: Mapping[str, str],
    convert: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> Iterator[RecordPage]:
    for page in ctx.pages(path, params):
        yield RecordPage(convert(page.rows), None, {})


# ---------------------------------------------------------------------------------------------
# Custom streams: raw Exact rows
# ---------------------------------------------------------------------------------------------


def raw_value(name: str, value: Any) -> Any:
    """``/Date()/`` → RFC 3339 (midnight wall clock kept as a date), Timestamp → int."""
    if name == "Timestamp" and value is not None:
        return odata.parse_int64(value)
    if isinstance(value, str) and value.startswith("/Date("):
        wall = odata.parse_date(value)
        if wall.time() == datetime.min.time() and "+" not in value and "-" not in value[7:]:
            return READERS["exact_date"](value)
        return READERS["exact_datetime"](value)
    return value


NextRows = Callable[[str, str], Iterable[Mapping[str, Any]]]
"""Reads the rest of an expanded collection: (its nested ``__next`` URL, the property) → rows."""


def custom_record(
    row: Mapping[str, Any], division: int, stream: CustomStream | None = None,
    rest: NextRows | None = None,
) -> dict[str, Any]:
    """A raw Exact row as a record of ``stream``: values typed by Exact's API reference
    (Edm.Int64 strings → integers, ``/Date()/`` → RFC 3339, expanded collections → lists,
    read whole through ``rest`` where Exact continues one at a nested ``__next``),
    properties named by the stream, ``division`` added."""
    endpoint = stream.reference if stream is not None else None
    out: dict[str, Any] = {}
    for name, value in odata.strip_metadata(row).items():
        prop = endpoint.property(name) if endpoint is not None else None
        key = stream.out(name) if stream is not None else name
        if prop is not None and prop.is_collection:
            out[key] = _nested(stream, endpoint, prop, value, rest)  # type: ignore[arg-type]
        elif prop is not None and prop.type == "Int64" and isinstance(value, str):
            out[key] = odata.parse_int64(value)
        else:
            out[key] = raw_value(name, value)
    out["division"] = division
    return out


def collection_rows(where: str, prop: str, value: Any, rest: NextRows | None
                    ) -> list[Mapping[str, Any]] | None:
    """Every row of an expanded collection, the rows Exact continues at its nested ``__next``
    (it pages an expanded collection at 60) read through ``rest``; None when not expanded."""
    rows = value.get("results") if isinstance(value, Mapping) else value
    if not isinstance(rows, list):
        return None  # {"__deferred": ...}: not expanded
    next_url = value.get("__next") if isinstance(value, Mapping) else None
    if next_url:
        if rest is None:
            raise MalformedResponseError(
                f"{where}: the expanded {prop} continues at a nested __next that "
                "this read cannot follow; refused rather than cut short"
            )
        rows = [*rows, *(odata.strip_metadata(dict(r)) for r in rest(str(next_url), prop))]
    return [r for r in rows if isinstance(r, Mapping)]


def _nested(stream: CustomStream, endpoint: Endpoint, prop: Property,
            value: Any, rest: NextRows | None) -> list[dict[str, Any]] | None:
    rows = collection_rows(stream.name, prop.name, value, rest)
    if rows is None:
        return None
    nested = nested_endpoint(endpoint, prop)
    child = replace(stream, endpoint=nested.path, primary_keys=()) if nested else None
    records = [custom_record(r, 0, child) for r in rows]
    for record in records:
        del record["division"]
    return records


def custom_params(stream: CustomStream, flt: str | None) -> dict[str, str]:
    """``$select`` (and ``$expand`` for the selected collections) and ``$filter``."""
    endpoint = stream.reference
    expand = [n for n in stream.select
              if endpoint is not None and (endpoint.property(n) or _NONE).is_collection]
    return odata.build_params(select=stream.select, filter=flt, expand=expand or None)


_NONE = Property(name="", type=None, methods=frozenset())


def read_custom(
    ctx: ReadContext,
    stream: CustomStream,
    since: int | str | None,
    state: Mapping[str, Any] | None,
    user_filter: str | None,
    start_date: datetime | None,
    properties: Collection[str] | None = None,
) -> Iterator[RecordPage]:
    """A custom stream: Timestamp → like sync, Modified → windowed, anything else → full;
    ``properties`` (the catalog's selection) narrows its ``$select``."""
    stream = stream.narrowed(properties)
    base = combine(stream.filter, user_filter) if user_filter else stream.filter
    stamp_key = stream.out("Timestamp")
    modified_key = stream.out("Modified")

    def rest(next_url: str, prop: str) -> Iterator[dict[str, Any]]:
        where = f"{stream.endpoint} ({prop})"
        for page in ctx.client.iter_next_pages(next_url, division=ctx.division, endpoint=where):
            yield from page.rows

    def convert(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [custom_record(r, ctx.division, stream, rest) for r in rows]

    if stream.replication_key == "Timestamp":
        bookmark = timestamp_since(since)
        flt = combine(base, timestamp_filter(bookmark))
        for page in ctx.pages(stream.endpoint, custom_params(stream, flt)):
            records = convert(page.rows)
            stamps = [r[stamp_key] for r in records if r.get(stamp_key) is not None]
            bookmark = max([bookmark, *stamps])
            yield RecordPage(records, bookmark, {})
        return
    keys = [stream.out(k) for k in stream.primary_keys]
    if stream.replication_key == "Modified":
        window = ModifiedWindow(instant_since(since, start_date), state, ctx.now)
        yield from read_modified(
            ctx,
            stream.endpoint,
            custom_params(stream, combine(base, window.filter())),
            window,
            convert,
            key_of=lambda r: "|".join(str(r.get(k)) for k in keys),
            modified_of=lambda r: parse_rfc3339(r[modified_key]) if r.get(modified_key)
            else None,
        )
        return
    yield from read_full(ctx, stream.endpoint, custom_params(stream, base), convert)


# ---------------------------------------------------------------------------------------------
# sync/Deleted
# ---------------------------------------------------------------------------------------------

DELETED_SELECT = ("Timestamp", "EntityKey", "EntityType", "DeletedDate")


def read_deletions(
    client: ExactClient,
    division: int,
    since: int | None,
    streams_by_type: Mapping[int, Sequence[tuple[str, str | None]]],
) -> Iterator[DeletionPage]:
    """``sync/Deleted`` since a Timestamp, mapped to (stream, record) for the asked types.

    ``streams_by_type``: EntityType → [(stream name, raw key name or None)]; a custom
    stream's record also carries its own key property.
    """
    bookmark = timestamp_since(since)
    params = odata.build_params(select=DELETED_SELECT, filter=timestamp_filter(bookmark))
    for page in client.iter_pages("sync/Deleted", division=division, params=params):
        records: list[tuple[str, dict[str, Any]]] = []
        for row in page.rows:
            stamp = odata.parse_int64(row["Timestamp"])
            bookmark = max(bookmark, stamp)
            entity_type = row.get("EntityType")
            targets = streams_by_type.get(int(entity_type)) if entity_type is not None else None
            if not targets or row.get("EntityKey") is None:
                continue
            key = str(row["EntityKey"]).strip().lower()
            deleted = exact_instant(row.get("DeletedDate"))
            for stream, raw_key in targets:
                record: dict[str, Any] = {
                    "id": key,
                    "division": division,
                    "_sdc_deleted_at": rfc3339(deleted) if deleted else None,
                    TIMESTAMP_PROPERTY: stamp,
                }
                if raw_key:
                    record[raw_key] = key
                records.append((stream, record))
        yield DeletionPage(records, bookmark)


def custom_deleted_type(stream: CustomStream) -> int | None:
    """The EntityType of a custom stream's deletions: its entity's (Exact's table, by entity
    set, on a ``sync/``, ``bulk/`` or plain endpoint alike), when sync/Deleted logs it."""
    return deleted_type(stream.endpoint)
