"""The model API every layer uses: unified records in and out, Exact only behind it."""

from __future__ import annotations

import builtins
import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from exact_online_core import odata
from exact_online_core.auth import broker_from_config
from exact_online_core.config import ExactConfig
from exact_online_core.errors import (
    AuthError,
    ConfigError,
    ExactError,
    LoginRequiredError,
    NotFoundError,
    PermissionDeniedError,
    ReadBackError,
    ValidationError,
)
from exact_online_core.header_lines import read_by_header
from exact_online_core.http import ExactClient
from exact_online_core.invoice_log import SyncLogs
from exact_online_core.invoices_reader import (
    INVOICES,
    InvoiceLoader,
    log_start,
    read_invoices,
    read_lines,
    sync_source,
)
from exact_online_core.items_reader import read_items
from exact_online_core.lookups import find_filter, raw_literal
from exact_online_core.mappings import (
    ACCOUNTING_INVOICE,
    ACCOUNTING_INVOICE_ITEM,
    ACCOUNTING_INVOICE_LINE_ITEM,
    CUSTOM_STREAMS,
    DELETED_AT,
    GENERIC_WORKSPACE,
    TIMESTAMP_PROPERTY,
    CustomStream,
    FieldMap,
    FieldMapping,
    custom_stream_schema,
    exact_select,
    field_maps,
    get_model,
    json_schema,
    parse_custom_streams,
    parse_field_mappings,
)
from exact_online_core.pack import pack_streams
from exact_online_core.readers import (
    DeletionPage,
    ModifiedWindow,
    ReadContext,
    RecordPage,
    combine,
    custom_deleted_type,
    custom_record,
    instant_since,
    plain_select,
    read_custom,
    read_deletions,
    read_full,
    read_modified,
    read_sync,
    timestamp_since,
    trim,
    updated_at,
)
from exact_online_core.reference_schema import check_write
from exact_online_core.writers import Writer, entity_path

__all__ = ["DeletionPage", "ExactOnline", "PermissionCheck", "RecordPage"]

STREAMS = (
    "generic_contact",
    "generic_company",
    "generic_user",
    "generic_workspace",
    "accounting_invoice",
    "accounting_invoice_item",
    "accounting_invoice_line_item",
)
BULK_PATHS = {
    "generic_contact": "bulk/CRM/Contacts",
    "generic_company": "bulk/CRM/Accounts",
    "accounting_invoice_item": "bulk/Logistics/Items",
}
"""Where a sync model is read when the user gives a $filter (sync endpoints refuse it)."""
PROBE_KEY = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class PermissionCheck:
    model: str
    division: int
    allowed: bool
    scope: str
    message: str


class ExactOnline:
    """List/search/retrieve/create/update/delete of unified models in Exact divisions."""

    def __init__(
        self,
        config: ExactConfig,
        *,
        client: ExactClient | None = None,
        field_mappings: Mapping[str, Any] | None = None,
        custom_streams: Sequence[Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._mappings = parse_field_mappings(field_mappings)
        self._custom = {s.name: s for s in parse_custom_streams(custom_streams)}
        self._pack = {s.name: s for s in pack_streams()}
        taken = sorted(set(self._custom) & set(self._pack))
        if taken:
            raise ConfigError(CUSTOM_STREAMS, f"stream '{taken[0]}': the name is a built-in "
                              "stream of the financial pack")
        self._clock = clock
        self._owns_client = client is None
        self.client = client or ExactClient(
            config, broker_from_config(config, clock=clock), clock=clock
        )
        self._extra = {name: field_maps(self._mappings, name) for name in STREAMS}
        self._divisions: dict[int, dict[str, Any]] = {}
        self._divisions_listing = threading.Lock()
        """Held while ``system/Divisions`` is listed: the tap's division threads all ask at
        their start, and each would list every division of the login (17 pages at 1000)."""
        self._processed: set[tuple[int, str]] = set()
        self._writer = Writer(self.client, self._extra_of, self._processed)
        self._invoice_logs = SyncLogs()

    def close(self) -> None:
        self._invoice_logs.close()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> ExactOnline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- divisions -------------------------------------------------------------------------

    def divisions(self) -> list[int]:
        """The configured list; ``"all"``: every active reachable division; None: current."""
        wanted = self.config.divisions
        if isinstance(wanted, list):
            return list(wanted)
        if wanted == "all":
            rows = self._division_rows(self.client.current_division())
            return sorted(code for code, row in rows.items() if row.get("Status") == 1)
        return [self.client.current_division()]

    def division_info(self, division: int) -> dict[str, Any]:
        """The ``system/Divisions`` row of a division (asked once, then cached)."""
        if division not in self._divisions:
            with self._divisions_listing:
                if division not in self._divisions:
                    self._division_rows(division)
        if division not in self._divisions:
            raise NotFoundError(
                f"division {division} is not in system/Divisions",
                method="GET", endpoint="system/Divisions", division=division,
            )
        return self._divisions[division]

    def _division_rows(self, division: int) -> dict[int, dict[str, Any]]:
        rows = {
            int(row["Code"]): odata.strip_metadata(row)
            for row in self.client.iter_rows("system/Divisions", division=division)
        }
        self._divisions.update(rows)
        return rows

    # -- models and schemas ----------------------------------------------------------------

    def models(self) -> list[str]:
        return list(STREAMS)

    def schema(self, stream: str) -> dict[str, Any]:
        custom = self.custom_stream(stream)
        if custom is not None:
            return custom_stream_schema(custom, deletions=custom_deleted_type(custom) is not None)
        model = get_model(stream)
        return json_schema(model, self._extra_of(model.name))

    @property
    def custom_streams(self) -> tuple[CustomStream, ...]:
        """The validated ``custom_streams`` setting (addition to the contract: the tap)."""
        return tuple(self._custom.values())

    @property
    def field_mappings(self) -> dict[str, tuple[FieldMapping, ...]]:
        """The validated ``field_mappings`` setting, per stream name."""
        return dict(self._mappings)

    @property
    def pack_streams(self) -> tuple[CustomStream, ...]:
        """The built-in financial and operational pack (:mod:`exact_online_core.pack`)."""
        return tuple(self._pack.values())

    def custom_stream(self, name: str) -> CustomStream | None:
        """A ``custom_streams`` entry or a pack stream by name (None: a unified model)."""
        return self._custom.get(name) or self._pack.get(name)

    def _extra_of(self, name: str) -> tuple[FieldMap, ...]:
        return self._extra.get(name, ())

    def _ctx(self, division: int) -> ReadContext:
        def context() -> dict[str, Any]:
            currency = self.division_info(division).get("Currency")
            return {"currency": currency.strip() if isinstance(currency, str) else currency}

        now = datetime.fromtimestamp(self._clock(), UTC)
        return ReadContext(self.client, division, self._extra, now, context)

    # -- reading ---------------------------------------------------------------------------

    def read_pages(
        self,
        stream: str,
        division: int,
        *,
        since: int | str | None = None,
        state: Mapping[str, Any] | None = None,
        properties: Collection[str] | None = None,
        filter: str | None = None,
        start_date: datetime | None = None,
    ) -> Iterator[RecordPage]:
        """Pages of unified records in bookmark order, one Exact page in memory at a time."""
        ctx = self._ctx(division)
        custom = self.custom_stream(stream)
        if custom is not None:
            if custom.header is not None and not filter and not custom.filter:
                return read_by_header(ctx, custom, since, state, start_date, properties)
            return read_custom(ctx, custom, since, state, filter, start_date, properties)
        model = get_model(stream)
        if model in (ACCOUNTING_INVOICE, ACCOUNTING_INVOICE_LINE_ITEM):
            start = (log_start(since, state) if model is ACCOUNTING_INVOICE
                     else timestamp_since(since))
            log = None if filter else self._invoice_logs.join(
                division, model.name, start, sync_source(ctx, start))
            if model is ACCOUNTING_INVOICE:
                return read_invoices(ctx, since, state, properties, filter, start_date, log)
            return read_lines(ctx, since, properties, filter, log)
        if model is GENERIC_WORKSPACE:
            return self._read_workspace(ctx, properties, filter)
        extra = self._extra_of(model.name)
        if model.read_kind == "sync" and not filter:
            select = exact_select(model, properties, extra, sync=True)
            if model is ACCOUNTING_INVOICE_ITEM:
                return read_items(ctx, since, select, properties)
            return read_sync(ctx, model, since, select, properties)
        path = BULK_PATHS.get(model.name, model.read_path)
        window = ModifiedWindow(instant_since(since, start_date), state, ctx.now)
        params = odata.build_params(
            select=plain_select(model, properties, extra),
            filter=combine(filter, window.filter()),
        )
        return read_modified(
            ctx, path, params, window,
            lambda rows: [trim(ctx.unify(model, r), properties, ("updated_at",)) for r in rows],
            key_of=lambda r: str(r["id"]),
            modified_of=updated_at,
        )

    def _read_workspace(
        self, ctx: ReadContext, properties: Collection[str] | None, user_filter: str | None
    ) -> Iterator[RecordPage]:
        model = GENERIC_WORKSPACE
        own = odata.eq("Code", odata.integer(ctx.division))
        params = odata.build_params(
            select=exact_select(model, properties, sync=False), filter=combine(user_filter, own)
        )

        def convert(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for row in rows:
                self._divisions[int(row["Code"])] = odata.strip_metadata(row)
            return [trim(ctx.unify(model, r), properties) for r in rows]

        return read_full(ctx, model.read_path, params, convert)

    def deletions(
        self, division: int, *, since: int | None, streams: Collection[str]
    ) -> Iterator[DeletionPage]:
        """``sync/Deleted`` since a Timestamp: (stream, record) for the asked streams' types.

        EntityType 13 names an invoice (its InvoiceID) or one of its lines (the line's ID):
        a deleted invoice gives its own and each line's, a removed line its own (the rows
        ``sync/SalesInvoice/SalesInvoices`` lost). The feed does not say which of the two a key is,
        so it goes to ``accounting_invoice`` and ``accounting_invoice_line_item`` alike: in
        the stream that never had the key, its tombstone matches no row.
        """
        by_type: dict[int, list[tuple[str, str | None]]] = {}
        for name in streams:
            custom = self.custom_stream(name)
            if custom is not None:
                code = custom_deleted_type(custom)
                raw = custom.primary_keys[0] if len(custom.primary_keys) == 1 else None
                if code is not None:
                    by_type.setdefault(code, []).append((custom.name, raw))
                continue
            model = get_model(name)
            if model.deleted_type is not None:
                by_type.setdefault(model.deleted_type, []).append((model.name, None))
        return read_deletions(self.client, division, since, by_type)

    def tombstone(self, stream: str, record: dict[str, Any]) -> dict[str, Any]:
        """A deletion of :meth:`deletions` as the record ``stream`` emits: a custom stream's
        has its key, ``division``, ``_sdc_deleted_at`` and its bookmark's Timestamp, under
        the stream's own names (the schema's); a model's is unchanged."""
        custom = self.custom_stream(stream)
        if custom is None:
            return record
        out = {"division": record["division"], DELETED_AT: record[DELETED_AT]}
        for key in custom.primary_keys:
            out[custom.out(key)] = record.get(key, record["id"])
        if custom.replication_key == "Timestamp":
            out[custom.out("Timestamp")] = record[TIMESTAMP_PROPERTY]
        return out

    def list(
        self,
        stream: str,
        division: int,
        *,
        filter: str | None = None,
        since: int | str | None = None,
        properties: Collection[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Records of read_pages, flattened; stops after ``limit``."""
        if limit is not None and limit <= 0:
            return
        count = 0
        pages = self.read_pages(stream, division, since=since, properties=properties,
                                filter=filter)
        for page in pages:
            for record in page.records:
                yield record
                count += 1
                if limit is not None and count >= limit:
                    return

    def retrieve(self, stream: str, division: int, id: str) -> dict[str, Any]:
        """One record by id from the plain endpoint (NotFoundError when it does not exist)."""
        ctx = self._ctx(division)
        custom = self.custom_stream(stream)
        if custom is not None:
            path = entity_path(self._plain_path(custom), None, id)
            row = odata.parse_single(self.client.get(path, division=division))
            return custom_record(row, division, custom)
        model = get_model(stream)
        if model is ACCOUNTING_INVOICE:
            entity_path(INVOICES, model, id)  # refuses a malformed id before any call
            loader = InvoiceLoader(ctx)
            record = loader.one(id)
            self._processed.update((division, key) for key in loader.processed)
            return record
        path = entity_path(model.entity, model, id)
        params = {"$select": ",".join(plain_select(model, None, self._extra_of(model.name)))}
        row = odata.parse_single(self.client.get(path, division=division, params=params))
        return ctx.unify(model, row)

    def find(
        self, stream: str, division: int, property: str, value: Any
    ) -> builtins.list[dict[str, Any]]:
        """Records whose unified ``property`` equals ``value`` (an eq filter on Exact)."""
        ctx = self._ctx(division)
        custom = self.custom_stream(stream)
        if custom is not None:
            flt = odata.eq(property, raw_literal(value))
            rows = self.client.iter_rows(self._plain_path(custom), division=division,
                                         params=odata.build_params(filter=flt))
            return [custom_record(r, division, custom) for r in rows]
        model = get_model(stream)
        flt = find_filter(model, self._extra_of(model.name), property, value)
        if model is ACCOUNTING_INVOICE:
            loader = InvoiceLoader(ctx)
            records = [r for p in ctx.pages(INVOICES, loader.params(flt)) for r in
                       loader.records(p.rows)]
            self._processed.update((division, key) for key in loader.processed)
            return records
        select = plain_select(model, None, self._extra_of(model.name))
        params = odata.build_params(select=select, filter=flt)
        return [ctx.unify(model, r) for r in self.client.iter_rows(
            model.entity, division=division, params=params)]

    @staticmethod
    def _plain_path(stream: CustomStream) -> str:
        if stream.write_endpoint:
            return stream.write_endpoint
        if stream.endpoint.split("/", 1)[0].lower() in ("sync", "bulk"):
            raise ValidationError(
                f"custom stream '{stream.name}' reads a sync/bulk endpoint and has no "
                "write_endpoint: records cannot be looked up one by one"
            )
        return stream.endpoint

    def probe(self, stream: str, division: int, *, write: bool = False) -> PermissionCheck:
        """One cheap call showing whether the app may read (or write) a stream; never raises
        for 401/403. A write probe PUTs ``{}`` to a key that does not exist: Exact checks the
        scope first, so 403 means no manage scope and 404 means the write would be let in."""
        custom = self.custom_stream(stream)
        if custom is not None:
            name, scope, entity, model = custom.name, "", custom.write_endpoint, None
            read_path, key = custom.endpoint, custom.primary_keys[0]
        else:
            model = get_model(stream)
            name, scope, entity = model.name, model.scope, model.entity
            read_path, key = model.read_path, model.key
            if write and "update" not in model.operations:
                why = model.write_refusal or "Exact Online has no write API for it."
                return PermissionCheck(name, division, False, scope, why)
        if write and not entity:
            return PermissionCheck(name, division, False, scope, "No write_endpoint is set.")
        try:
            if write and entity:
                fake = "0" if model is not None and model.key_read != "guid" else PROBE_KEY
                with contextlib.suppress(NotFoundError, ValidationError):
                    self.client.put(entity_path(entity, model, fake), {}, division=division)
            else:
                self.client.get(read_path, division=division, params={"$top": "1",
                                                                       "$select": key})
        except LoginRequiredError:
            raise  # no tokens at all: a login problem, not a scope problem
        except (PermissionDeniedError, AuthError) as exc:
            return self.refusal(stream, division, exc, write=write)
        return PermissionCheck(name, division, True, scope, "")

    def refusal(
        self, stream: str, division: int, error: ExactError, *, write: bool = False
    ) -> PermissionCheck:
        """Exact refused ``stream`` in ``division``: say where, why, and which scope to grant."""
        custom = self.custom_stream(stream)
        scope = "" if custom is not None else get_model(stream).scope
        access = "manage" if write else "read"
        grant = (
            f"Grant the app the '{scope}' scope ({access}) in the Exact App Center, then "
            "run `exact-online login` again."
            if scope
            else "Grant the app the scope of this endpoint in the Exact App Center."
        )
        said = (error.exact_message or error.message).rstrip(".")
        if "wrongdivision" in said.lower().replace(" ", ""):
            grant = (
                f"The logged-in user cannot reach division {division}: fix `divisions` "
                "(`exact-online check` lists the reachable ones)."
            )
        message = f"stream {stream} in division {division}: {said}. {grant}"
        return PermissionCheck(stream, division, False, scope, message)

    # -- writing ---------------------------------------------------------------------------

    def create(
        self, stream: str, division: int, record: Mapping[str, Any], *, strict: bool = False
    ) -> dict[str, Any]:
        """POST a unified record; the stored record. ``strict``: unknown/read-only properties
        raise instead of being dropped (the CLI; the target sends tap records as they are)."""
        custom = self.custom_stream(stream)
        if custom is not None:
            path = self._writer.custom(custom, "create")
            body = {k: v for k, v in record.items() if k != "division"}
            body = check_write(stream, path, body, "POST", keys=custom.primary_keys,
                               strict=strict)
            row = self.client.post(path, body, division=division)
            return custom_record(row or {}, division, custom)
        model = get_model(stream)
        key, row = self._writer.create(model, division, record, strict)
        if model is ACCOUNTING_INVOICE or row is None:
            return self._read_back(model.name, division, key, "created")
        return self._ctx(division).unify(model, row)

    def update(
        self, stream: str, division: int, id: str, record: Mapping[str, Any], *,
        strict: bool = False,
    ) -> dict[str, Any]:
        """PUT only the properties present (an invoice's ``line_items``: the full new set of
        lines), then read the stored record back."""
        custom = self.custom_stream(stream)
        if custom is not None:
            path = entity_path(self._writer.custom(custom, "update"), None, id)
            body = {k: v for k, v in record.items() if k not in ("division", *custom.primary_keys)}
            body = check_write(stream, self._writer.custom(custom, "update"), body, "PUT",
                               strict=strict)
            self.client.put(path, body, division=division)
            return self._read_back(stream, division, id, "updated")
        model = get_model(stream)
        self._writer.update(model, division, id, record, strict)
        return self._read_back(model.name, division, id, "updated")

    def _read_back(self, stream: str, division: int, id: str, done: str) -> dict[str, Any]:
        """The stored record after a write Exact confirmed; a failed read keeps the id
        (``ReadBackError``), so the caller never takes the write for one that did not land."""
        try:
            return self.retrieve(stream, division, id)
        except ExactError as exc:
            raise ReadBackError(
                f"{stream} {id} was {done} in division {division}, but reading it back "
                f"failed: {exc}",
                exact_id=id, status=exc.status,
            ) from exc

    def delete(self, stream: str, division: int, id: str) -> None:
        custom = self.custom_stream(stream)
        if custom is not None:
            path = entity_path(self._writer.custom(custom, "delete"), None, id)
            self.client.delete(path, division=division)
            return
        self._writer.delete(get_model(stream), division, id)

