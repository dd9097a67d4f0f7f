"""Exact's behaviour over the store: querying and paging, writes and their rules, listeners."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from . import invoices, writes
from . import seed as seeding
from .clock import EXACT_TZ, Clock
from .entities import ENTITIES, EntityDef, Mode, Resolved, nav_entity, nav_link, resolve, row_key
from .errors import ExactApiError
from .filters import cached_filter, compile_filter
from .paging import (
    SortKey,
    after,
    invalid_token,
    order_sql,
    parse_literal,
    parse_orderby,
    split_token,
)
from .paging import token_literal as literal
from .rules import new_guid
from .store import Store, StoredRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Query:
    filter: str | None = None
    select: tuple[str, ...] | None = None
    orderby: str | None = None
    top: int | None = None
    skip: int = 0
    skiptoken: str | None = None
    expand: tuple[str, ...] = ()
    inlinecount: bool = False


@dataclass(frozen=True)
class Page:
    """One page of a collection: its stored rows (loaded only when asked for)."""

    stored: list[StoredRow]
    next_params: dict[str, str] | None
    total: int | None = None
    entity: EntityDef | None = None
    expanded: list[dict[str, Any]] | None = None
    """The rows with their ``$expand``ed collections, when the query expands."""
    body: bytes | None = None
    """The rows' JSON texts joined by commas (UTF-8) when SQLite rendered them (``sqlrows``);
    ``stored`` is then empty and ``served`` counts the rows."""
    served: int = 0
    """Rows on the page: those of ``body`` when rendered, else ``len(stored)``."""

    @property
    def rendered(self) -> bool:
        return self.body is not None

    @property
    def count(self) -> int:
        return self.served if self.rendered else len(self.stored)

    @property
    def rows(self) -> list[dict[str, Any]]:
        if self.rendered:
            raise ValueError("a rendered page holds JSON text, not rows")
        if self.expanded is not None:
            return self.expanded
        entity = self.entity
        return [Backend.load(entity, s) for s in self.stored] if entity is not None else []


@dataclass(frozen=True)
class Change:
    entity: EntityDef
    division: int
    action: Literal["Create", "Update", "Delete"]
    key: str | int


def columns(entity: EntityDef) -> dict[str, str]:
    """Fields that live in indexed columns of ``rows`` instead of the JSON."""
    cols: dict[str, str] = {}
    if "Timestamp" in entity.fields:
        cols["Timestamp"] = "ts"
    if entity.key_type != "compound" and entity.key != "Timestamp":
        cols[entity.key] = "key"
    if entity.parent_field:
        cols[entity.parent_field] = "parent"
    return cols


def not_found() -> ExactApiError:
    return ExactApiError(404, "Not found")


class Backend:
    """Exact Online's data behaviour for every division of the sandbox."""

    def __init__(
        self, store: Store, clock: Clock, *, seed: int | None = 42,
        size: str | dict[str, int] = "small", divisions: int = len(seeding.REACHABLE),
    ) -> None:
        self.store = store
        self.clock = clock
        self.listeners: list[Callable[[Change], None]] = []
        self._pending: list[Change] = []
        self._divisions: dict[int, dict[str, Any]] = {}
        self._reachable: tuple[int, ...] | None = None
        if not self.store.scalar("SELECT count(*) FROM rows WHERE entity = 'Divisions'", ()):
            self.reset(seed=seed, size=size, divisions=divisions)

    def reset(self, *, seed: int | None = 42, size: str | dict[str, int] = "small",
              divisions: int = len(seeding.REACHABLE)) -> None:
        """Wipe every entity row and counter and seed ``divisions`` divisions again
        (``seed=None``: no business data)."""
        codes = seeding.division_codes(divisions)  # refused before anything is wiped
        self.store.wipe()
        self._divisions = {}
        self._reachable = None
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        month = datetime(now.year, now.month, 1, tzinfo=UTC)
        seeding.seed_all(self.store, seed=seed, size=size,
                         anchor_ms=int(month.timestamp() * 1000), divisions=len(codes))

    # --- identity ------------------------------------------------------------------------
    def user(self) -> dict[str, Any]:
        stored = self.store.get("Users", 0, seeding.USER_ID)
        if stored is None:
            raise not_found()
        return self.load(ENTITIES["Users"], stored)

    def me(self) -> dict[str, Any]:
        user = self.user()
        current = seeding.REACHABLE[0]
        div = self.division_row(current)
        local = datetime.fromtimestamp(self.clock.now(), EXACT_TZ)
        offset = local.utcoffset()
        return {
            "UserID": user["UserID"], "AccountingDivision": current,
            "CurrentDivision": current, "CustomerCode": div.get("CustomerCode"),
            "DivisionCustomer": div.get("Customer"),
            "DivisionCustomerCode": div.get("CustomerCode"),
            "DivisionCustomerName": div.get("CustomerName"),
            "DivisionCustomerSiretNumber": "", "DivisionCustomerVatNumber": div.get("VATNumber"),
            "DossierDivision": None, "Email": user["Email"],
            "EmployeeID": "00000000-0000-0000-0000-000000000000",
            "FirstName": user["FirstName"], "FullName": user["FullName"],
            "Gender": user.get("Gender"), "Initials": user.get("Initials"),
            "IsClientUser": True, "IsEmployeeSelfServiceUser": False, "IsMyFirmLiteUser": False,
            "IsMyFirmPortalUser": False, "IsOEIMigrationMandatory": False,
            "IsStarterUser": False, "Language": "EN", "LanguageCode": "en-GB",
            "LastName": user["LastName"], "Legislation": 1, "MiddleName": None,
            "Mobile": None, "Nationality": None, "PackageCode": "EOLAPPCENTER",
            "Phone": user.get("Phone"), "PhoneExtension": None, "PictureUrl": None,
            "ServerTime": local.strftime("%Y-%m-%dT%H:%M:%S"),
            "ServerUtcOffset": int(offset.total_seconds()) if offset else 0,
            "ThumbnailPicture": None, "ThumbnailPictureFormat": None,
            "Title": user.get("Title"), "UserName": user["UserName"],
        }

    def division_exists(self, division: int) -> bool:
        return division in self.reachable_divisions() or division in seeding.UNREACHABLE

    def reachable_divisions(self) -> list[int]:
        if self._reachable is None:
            self._reachable = seeding.stored_division_codes(self.store)
        return list(self._reachable)

    def division_row(self, division: int) -> dict[str, Any]:
        if division not in self._divisions:
            stored = self.store.get("Divisions", 0, division)
            if stored is None:
                return {"Code": division, "Currency": "EUR", "Country": "NL "}
            self._divisions[division] = self.load(ENTITIES["Divisions"], stored)
        return self._divisions[division]

    # --- rows --------------------------------------------------------------------------
    @staticmethod
    def load(entity: EntityDef, stored: tuple[Any, int, str]) -> dict[str, Any]:
        row = entity.template
        row.update(json.loads(stored[2]))
        if "Timestamp" in entity.fields:
            row["Timestamp"] = stored[1]
        return row

    @staticmethod
    def scope_division(entity: EntityDef, division: int) -> int:
        return division if entity.division_scoped else 0

    def find(self, entity: EntityDef, division: int, key: Any) -> dict[str, Any] | None:
        div = self.scope_division(entity, division)
        if entity.key == "Timestamp":
            stored = self.store.get_by_ts(entity.store_name, div, int(key))
        else:
            stored = self.store.get(entity.store_name, div, key)
        return self.load(entity, stored) if stored else None

    def children(self, entity: EntityDef, division: int, parents: list[str]) -> list[
            dict[str, Any]]:
        return [self.load(entity, s) for s in self.store.children(entity.store_name, division,
                                                                  parents)]

    def linked(self, entity: EntityDef, division: int, link: str, parents: list[str]) -> list[
            dict[str, Any]]:
        """Rows whose ``link`` property is one of ``parents`` (indexed when it is the parent)."""
        if link == entity.parent_field:
            return self.children(entity, division, parents)
        if not parents:
            return []
        marks = ",".join("?" * len(parents))
        stored = self.store.select(
            f"SELECT key, ts, data FROM rows WHERE entity = ? AND division = ? "
            f"AND json_extract(data, ?) IN ({marks}) ORDER BY key",
            [entity.store_name, self.scope_division(entity, division), f"$.{link}", *parents])
        return [self.load(entity, s) for s in stored]

    def save(self, entity: EntityDef, division: int, row: dict[str, Any]) -> int:
        """Store a row with a fresh Timestamp of its division; returns that Timestamp."""
        ts = self.store.next_timestamps(division)
        if "Timestamp" in entity.fields:
            row["Timestamp"] = ts
        key = row_key(entity, row)
        parent = row.get(entity.parent_field) if entity.parent_field else None
        self.store.put(entity.store_name, self.scope_division(entity, division), key, ts,
                       parent, row)
        return ts

    def now_ms(self) -> int:
        """Now in Exact's datetime scale (Dutch wall-clock time as if UTC): see Clock."""
        return self.clock.exact_now_ms()

    def stamp(self, row: dict[str, Any], division: int, *, created: bool) -> None:
        now, user = self.now_ms(), self.user()
        if created:
            row.update(Created=now, Creator=user["UserID"], CreatorFullName=user["FullName"])
        row.update(Modified=now, Modifier=user["UserID"], ModifierFullName=user["FullName"])
        if "Division" in row:
            row["Division"] = division

    def emit(self, entity: EntityDef, division: int, action: Literal["Create", "Update",
             "Delete"], key: str | int) -> None:
        self._pending.append(Change(entity, division, action, key))

    def record_deleted(self, entity: EntityDef, division: int, key: str) -> None:
        if entity.deleted_type is None:
            return
        user = self.user()
        row = {"ID": new_guid(), "DeletedBy": user["UserID"], "DeletedDate": self.now_ms(),
               "Division": division, "EntityKey": key, "EntityType": entity.deleted_type}
        self.save(ENTITIES["Deleted"], division, row)

    def _write(self, fn: Callable[[], Any]) -> Any:
        with self.store.transaction():
            self._pending = []
            result = fn()
            changes, self._pending = self._pending, []
        for change in changes:
            for listener in list(self.listeners):
                try:
                    listener(change)
                except Exception:  # a listener never breaks the write that was committed
                    log.exception("sandbox change listener failed")
        return result

    # --- reading -------------------------------------------------------------------------
    def _target(self, r: Resolved, division: int
                ) -> tuple[EntityDef | None, Mode, tuple[str, str] | None]:
        """The entity a request reads, its mode, and (link, parent key) for a navigation."""
        if r.navigation is None:
            return r.entity, r.mode, None
        if r.mode == "sync":
            parent = self._sync_row(r, division)
        else:
            parent = self.find(r.entity, division, r.key)
        if parent is None:
            raise not_found()
        target, link = nav_entity(r.entity, r.navigation), nav_link(r.entity, r.navigation)
        if target is None or link is None:
            return None, "plain", None
        mode: Mode = "plain" if "plain" in target.views else next(iter(target.views))
        return target, mode, (link, str(row_key(r.entity, parent)))

    def _sync_row(self, r: Resolved, division: int) -> dict[str, Any] | None:
        stored = self.store.get_by_ts(r.entity.store_name,
                                      self.scope_division(r.entity, division), int(r.key or 0))
        return self.load(r.entity, stored) if stored else None

    @staticmethod
    def _check_query(entity: EntityDef, mode: Mode, q: Query) -> None:
        view = entity.view(mode)
        if mode == "bulk" and not q.select and q.top != 1:
            raise ExactApiError(400, "Please add a $select or a $top=1 statement to the query "
                                     "string.")
        type_name = entity.type_for(mode)
        for name in q.select or ():
            if name != "*" and not view.has(name):
                raise ExactApiError(400, f"No property '{name}' exists in type '{type_name}'.")
        for name in q.expand:
            if name not in view.navigations:
                raise ExactApiError(400, f"No property '{name}' exists in type '{type_name}'.")
        if (q.top is not None and q.top < 0) or q.skip < 0:
            raise ExactApiError(400, "$top and $skip must be non-negative integers.")

    def _where(self, entity: EntityDef, mode: Mode, division: int,
               parent: tuple[str, str] | None, text: str | None,
               unindexed: str | None = None) -> tuple[str, list[Any]]:
        """The WHERE of a collection; the filter's terms on column ``unindexed`` are written
        ``+column`` so that SQLite does not seek its index with them (a ``$skiptoken``'s
        bound on that column does: else every page walks the index from the filter's
        ``Timestamp gt 0L`` and a sync of n rows costs n²)."""
        where = "entity = ? AND division = ?"
        params: list[Any] = [entity.store_name, self.scope_division(entity, division)]
        if parent is not None:
            link, value = parent
            if link == entity.parent_field:
                where += " AND parent = ?"
                params.append(value)
            else:
                where += " AND json_extract(data, ?) = ?"
                params += [f"$.{link}", value]
        if text is not None:
            allowed: frozenset[str] | None = None
            if mode == "sync":
                allowed = frozenset({"Timestamp", "EntityType"} if entity.name == "Deleted"
                                    else {"Timestamp"})
            def compile_it() -> tuple[str, list[Any]]:
                cols = {name: "+" + col if col == unindexed else col
                        for name, col in columns(entity).items()}
                return compile_filter(text, entity.visible_fields(mode),
                                      type_name=entity.type_for(mode), columns=cols,
                                      allowed=allowed)

            sql, fparams = cached_filter(entity, mode, text, unindexed, compile_it)
            where += f" AND {sql}"
            params += fparams
        return where, params

    @staticmethod
    def _keycol(entity: EntityDef, mode: Mode) -> str:
        return "ts" if mode == "sync" or entity.key == "Timestamp" else "key"

    @staticmethod
    def _key_type(entity: EntityDef, keycol: str) -> str:
        if keycol == "ts":
            return "int64"
        if entity.key_type == "compound":
            return "string"
        return entity.fields.get(entity.key, "guid" if entity.key_type == "guid" else "int")

    def page(self, r: Resolved, division: int, q: Query, page_size: int,
             render: tuple[str, list[Any]] | None = None) -> Page:
        """One page of a collection. ``render``: an SQL expression (and its parameters) that
        gives each row's JSON text, used instead of the row's data when the page needs no
        row loaded (no ``$expand``, no ``$orderby``, keyed by Timestamp: the token is the
        last ``ts``); the page is then :meth:`_rendered_page`."""
        target, mode, parent = self._target(r, division)
        if target is None:  # a deferred-only navigation: nothing stored behind it
            return Page([], None, 0 if q.inlinecount else None)
        self._check_query(target, mode, q)
        keycol = self._keycol(target, mode)
        where, params = self._where(target, mode, division, parent, q.filter,
                                    keycol if q.skiptoken else None)
        total = self.store.scalar(f"SELECT count(*) FROM rows WHERE {where}", params) \
            if q.inlinecount else None
        limit = page_size if q.top is None else min(page_size, q.top)
        if limit <= 0:
            return Page([], None, total)
        key_type = self._key_type(target, keycol)
        cols = columns(target)
        orderby = q.orderby
        if orderby is None and parent is not None and "LineNumber" in target.fields:
            orderby = "LineNumber"  # a collection's rows (lines) come in line order
        sort = parse_orderby(orderby, target.visible_fields(mode), target.type_for(mode),
                             cols) if orderby else []
        order, oparams = order_sql(sort)
        order = f"{order}, {keycol}" if order else keycol
        if sort or q.expand or keycol != "ts":
            render = None
        offset = q.skip
        if q.skiptoken:
            parts = split_token(q.skiptoken)
            if len(parts) != len(sort) + 1:
                raise invalid_token(q.skiptoken)
            values = [parse_literal(k.ftype, text, q.skiptoken)
                      for k, text in zip(sort, parts, strict=False)]
            values.append(parse_literal(key_type, parts[-1], q.skiptoken))
            keys = [*sort, SortKey(keycol, (), key_type, False, keycol)]
            clause, cparams = after(keys, values)
            where += f" AND {clause}"
            params += cparams
            offset = 0
        if render is not None:
            return self._rendered_page(target, mode, division, parent, q, where, params,
                                       render, limit, offset, total)
        sql = f"SELECT key, ts, data FROM rows WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        stored = self.store.select(sql, [*params, *oparams, limit + 1, offset])
        more = len(stored) > limit and (q.top is None or limit < q.top)
        stored = stored[:limit]
        expanded: list[dict[str, Any]] | None = None
        if q.expand:
            expanded = [self.load(target, s) for s in stored]
            self._expand(target, division, expanded, q.expand)
        next_params: dict[str, str] | None = None
        if more and stored:
            last = self.load(target, stored[-1]) if sort else {}
            token = [literal(k.ftype, last.get(k.name)) for k in sort]
            last_key = stored[-1][1] if keycol == "ts" else stored[-1][0]
            token.append(literal(key_type, last_key))
            next_params = {"$skiptoken": ",".join(token)}
        return Page(stored, next_params, total, target, expanded)

    def _rendered_page(self, target: EntityDef, mode: Mode, division: int,
                       parent: tuple[str, str] | None, q: Query, where: str,
                       params: list[Any], render: tuple[str, list[Any]], limit: int,
                       offset: int, total: int | None) -> Page:
        """A page in Timestamp order whose rows SQLite renders and joins into one text: one
        statement for the rows, the count and the last Timestamp (no row tuple made in
        Python), and, for a full page, an index probe for a row after it (the next page)."""
        column, rparams = render
        # the rows come to the aggregate in the subquery's order (ORDER BY … LIMIT: SQLite
        # runs it as a co-routine; tests/sandbox/test_sqlrows.py holds the bytes equal)
        served, last, body = self.store.fetch(
            f"SELECT count(*), max(ts), CAST(group_concat(t, ',') AS BLOB) FROM (SELECT ts, "
            f"{column} AS t FROM rows WHERE {where} ORDER BY ts LIMIT ? OFFSET ?)",
            [*rparams, *params, limit, offset])[0]
        next_params: dict[str, str] | None = None
        if served == limit and (q.top is None or limit < q.top):
            # the filter's own terms on ts unindexed: the probe seeks the index after `last`
            probe, pparams = self._where(target, mode, division, parent, q.filter, "ts")
            if self.store.fetch(f"SELECT 1 FROM rows WHERE {probe} AND ts > ? LIMIT 1",
                                [*pparams, last]):
                next_params = {"$skiptoken": literal("int64", last)}
        return Page([], next_params, total, target, body=body or b"", served=served)

    def _expand(self, entity: EntityDef, division: int, rows: list[dict[str, Any]],
                expand: tuple[str, ...]) -> None:
        for nav in expand:
            child, link = nav_entity(entity, nav), nav_link(entity, nav)
            keys = [str(row_key(entity, row)) for row in rows]
            grouped: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
            if child is not None and link is not None:
                for c in self.linked(child, division, link, keys):
                    grouped.setdefault(str(c[link]), []).append(c)
                for group in grouped.values():  # the order a navigation read pages in
                    group.sort(key=lambda c: (c.get("LineNumber") or 0, str(row_key(child, c))))
            for row, key in zip(rows, keys, strict=True):
                row[nav] = grouped.get(key, [])

    def count(self, r: Resolved, division: int, filter: str | None) -> int:
        target, mode, parent = self._target(r, division)
        if target is None:
            return 0
        where, params = self._where(target, mode, division, parent, filter)
        return self.store.scalar(f"SELECT count(*) FROM rows WHERE {where}", params)

    def get(self, r: Resolved, division: int, q: Query) -> dict[str, Any]:
        if r.key is None:
            raise not_found()
        self._check_query(r.entity, r.mode, q)
        if r.mode == "sync":  # sync rows are keyed by their Timestamp
            row = self._sync_row(r, division)
        else:
            row = self.find(r.entity, division, r.key)
        if row is None:
            raise not_found()
        if q.expand:
            self._expand(r.entity, division, [row], q.expand)
        return row

    def row_count(self, path: str, division: int) -> int:
        r = resolve(path)
        if r is None:
            return 0
        div = self.scope_division(r.entity, division)
        return self.store.scalar("SELECT count(*) FROM rows WHERE entity = ? AND division = ?",
                                 [r.entity.store_name, div])

    # --- writing -------------------------------------------------------------------------
    @staticmethod
    def _check_method(entity: EntityDef, mode: Mode, method: str) -> None:
        if mode != "plain" or method not in entity.methods:
            raise ExactApiError(405, f"Method {method} is not allowed on this resource.")

    def create(self, r: Resolved, division: int, body: dict[str, Any]) -> dict[str, Any]:
        entity = r.entity
        if r.navigation:
            target, link = nav_entity(entity, r.navigation), nav_link(entity, r.navigation)
            if target is None or link is None:
                raise ExactApiError(405, "Method POST is not allowed on this resource.")
            body = {**body, link: r.key}
            entity = target
        self._check_method(entity, r.mode, "POST")
        handler = {
            "SalesInvoices": invoices.create_invoice, "SalesInvoiceLines": invoices.create_line,
            "PrintedSalesInvoices": invoices.process,
        }.get(entity.name, writes.create)
        result: dict[str, Any] = self._write(lambda: handler(self, entity, division, body))
        return result

    def update(self, r: Resolved, division: int, body: dict[str, Any]) -> None:
        self._check_method(r.entity, r.mode, "PUT")
        if r.key is None or r.navigation:
            raise ExactApiError(405, "Method PUT is not allowed on this resource.")
        handler = {"SalesInvoices": invoices.update_invoice,
                   "SalesInvoiceLines": invoices.update_line}.get(r.entity.name, writes.update)
        self._write(lambda: handler(self, r.entity, division, r.key, body))

    def delete(self, r: Resolved, division: int) -> None:
        self._check_method(r.entity, r.mode, "DELETE")
        if r.key is None or r.navigation:
            raise ExactApiError(405, "Method DELETE is not allowed on this resource.")
        handler = {"SalesInvoices": invoices.delete_invoice,
                   "SalesInvoiceLines": invoices.delete_line}.get(r.entity.name, writes.delete)
        self._write(lambda: handler(self, r.entity, division, r.key))

    def book_payment(self, division: int, invoice_id: str, amount: float | None) -> dict[
            str, Any]:
        """Pay (part of) a processed invoice: changes its receivable, never the invoice row."""
        result: dict[str, Any] = self._write(
            lambda: invoices.book_payment(self, division, invoice_id.lower(), amount))
        return result
