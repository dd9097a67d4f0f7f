"""The table of Exact entities the sandbox serves, built from Exact's API reference.

Every endpoint Exact serves answers. The entities with behaviour of their own (accounts,
contacts, items, invoices, receivables, users, divisions, projects, webhooks, sync/Deleted)
are named in :data:`SPECS` with their rules' attributes; every other endpoint is a generic
store. A plain endpoint and its ``bulk/`` and ``sync/`` twins share one entity (one stored row
set); each shows its own properties.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exact_online_reference.deleted import deleted_type
from exact_online_reference.recorded import served, served_paths

from .schema import (
    SERVER_FIELDS,
    EntityDef,
    FieldType,
    KeyType,
    Mode,
    View,
    scope_for,
    singular,
    type_name_for,
    view_of,
)

__all__ = ["ENTITIES", "SERVER_FIELDS", "EntityDef", "FieldType", "Mode", "Resolved", "View",
           "nav_entity", "nav_link", "parse_key", "resolve"]


@dataclass(frozen=True)
class Spec:
    """An entity with sandbox behaviour: its endpoints and the attributes its rules need.

    ``deletions``: deleting a row logs it in ``sync/Deleted`` under Exact's EntityType for the
    entity (:func:`exact_online_reference.deleted.deleted_type`). A generic entity logs its
    deletions when it has a sync endpoint and Exact's table has a code for it.
    """

    name: str
    plain: str | None
    sync: str | None = None
    bulk: str | None = None
    scope: str | None = None
    deletions: bool = False
    webhook_topic: str | None = None
    division_scoped: bool = True
    storage: str | None = None
    parent_field: str | None = None
    derived: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None
    one_of: tuple[tuple[str, ...], ...] = ()


SPECS: tuple[Spec, ...] = (
    Spec("Divisions", "system/Divisions", division_scoped=False),
    Spec("AllDivisions", "system/AllDivisions", division_scoped=False),
    Spec("RecentDivisions", "system/GetMostRecentlyUsedDivisions", division_scoped=False,
         storage="Divisions"),
    Spec("HrmDivisions", "hrm/Divisions", division_scoped=False,
         scope="organization.administration"),
    Spec("Users", "users/Users", division_scoped=False),
    Spec("Accounts", "crm/Accounts", "sync/CRM/Accounts", "bulk/CRM/Accounts", deletions=True,
         webhook_topic="Accounts"),
    # FirstName and LastName are both flagged required; Exact's page says "Provide at least
    # first name or last name to create a new contact".
    Spec("Contacts", "crm/Contacts", "sync/CRM/Contacts", "bulk/CRM/Contacts", deletions=True,
         webhook_topic="Contacts", parent_field="Account",
         one_of=(("FirstName", "LastName"),)),
    Spec("Items", "logistics/Items", "sync/Logistics/Items", "bulk/Logistics/Items",
         deletions=True, webhook_topic="Items"),
    Spec("SalesInvoices", "salesinvoice/SalesInvoices", None, "bulk/SalesInvoice/SalesInvoices",
         deletions=True, webhook_topic="SalesInvoices"),
    Spec("SalesInvoiceLines", "salesinvoice/SalesInvoiceLines", None,
         "bulk/SalesInvoice/SalesInvoiceLines", parent_field="InvoiceID",
         derived=frozenset({"GLAccount", "InvoiceID"})),
    Spec("SyncSalesInvoices", None, "sync/SalesInvoice/SalesInvoices", parent_field="InvoiceID",
         scope="sales.invoices", key="ID"),
    Spec("PrintedSalesInvoices", "salesinvoice/PrintedSalesInvoices"),
    Spec("Receivables", "cashflow/Receivables", None, "bulk/Cashflow/Receivables",
         scope="financial.receivables", parent_field="TransactionEntryID"),
    Spec("ReceivablesList", "read/financial/ReceivablesList", parent_field="Id"),
    Spec("Projects", "project/Projects", "sync/Project/Projects", deletions=True),
    Spec("WebhookSubscriptions", "webhooks/WebhookSubscriptions", defaults={"IsInstant": False}),
    Spec("Deleted", None, "sync/Deleted", scope="organization.administration"),
    Spec("TransactionLines", "financialtransaction/TransactionLines",
         "sync/Financial/TransactionLines", "bulk/Financial/TransactionLines",
         scope="financial.accounting", deletions=True, parent_field="EntryID"),
    # one row per purchase order line, the order's fields copied onto it
    Spec("SyncPurchaseOrders", None, "sync/PurchaseOrder/PurchaseOrders", key="ID",
         scope="purchase.orders", deletions=True, parent_field="PurchaseOrderID"),
)

GROUPED: dict[str, str] = {
    "sync/CRM/QuotationHeaders": "crm/Quotations",
    "sync/SalesOrder/SalesOrderHeaders": "salesorder/SalesOrders",
}
"""``bulk/``/``sync/`` endpoints whose plain twin has another name."""

def _mode(path: str) -> Mode:
    head = path.split("/", 1)[0].lower()
    return "sync" if head == "sync" else "bulk" if head == "bulk" else "plain"


def _view(path: str) -> View:
    endpoint = served(path)
    if endpoint is None:
        raise KeyError(f"Exact serves no endpoint {path}")
    return view_of(endpoint, _mode(path))


def _key_of(views: Mapping[Mode, View]) -> tuple[str, KeyType, tuple[str, ...]]:
    for mode in ("plain", "bulk", "sync"):
        view = views.get(mode)
        if view is None:
            continue
        keys = tuple(k for k in view.keys if k != "Timestamp")
        if len(keys) > 1:
            return "|".join(keys), "compound", keys
        if keys:
            ftype = view.fields.get(keys[0])
            ktype: KeyType = "guid" if ftype == "guid" else "string" if ftype == "string" \
                else "int"
            return keys[0], ktype, keys
    fields = next(iter(views.values())).fields
    return ("ID", "guid", ("ID",)) if fields.get("ID") == "guid" else ("Timestamp", "int", ())


def _entity(name: str, views: dict[Mode, View], spec: Spec | None) -> EntityDef:
    key, key_type, keys = _key_of(views)
    if spec is not None and spec.key:
        key, key_type, keys = spec.key, "guid", (spec.key,)
    main = views.get("plain") or views.get("bulk") or next(iter(views.values()))
    sync = views.get("sync")
    scope = (spec.scope if spec and spec.scope else None) or scope_for(main.path)
    deleted = None
    if (spec.deletions if spec else sync is not None):
        deleted = next((code for v in views.values()
                        if (code := deleted_type(v.path)) is not None), None)
    return EntityDef(
        name=name, key=key, key_type=key_type, keys=keys, views=views, scope=scope,
        type_name=type_name_for(main.path),
        sync_type_name=type_name_for(sync.path) if sync else None,
        deleted_type=deleted,
        webhook_topic=spec.webhook_topic if spec else None,
        division_scoped=spec.division_scoped if spec else True,
        storage=spec.storage if spec else None,
        parent_field=spec.parent_field if spec else None,
        derived=spec.derived if spec else frozenset(),
        defaults=dict(spec.defaults) if spec else {},
        one_of=spec.one_of if spec else (),
    )


def _build() -> dict[str, EntityDef]:
    taken: set[str] = set()
    entities: dict[str, EntityDef] = {}
    for spec in SPECS:
        views: dict[Mode, View] = {}
        for mode, path in (("plain", spec.plain), ("sync", spec.sync), ("bulk", spec.bulk)):
            if path:
                views[mode] = _view(path)  # type: ignore[index]
                taken.add(path)
        entities[spec.name] = _entity(spec.name, views, spec)
    groups: dict[str, dict[Mode, View]] = {}
    plain_by_lower = {p.lower(): p for p in served_paths() if _mode(p) == "plain"}
    for path in served_paths():
        if path in taken:
            continue
        mode = _mode(path)
        if mode == "plain":
            group = path
        elif path in GROUPED:
            group = GROUPED[path]
        else:
            rest = path.split("/", 1)[1].lower()
            group = plain_by_lower.get(rest, f"~{rest}")
        groups.setdefault(group, {})[mode] = _view(path)
    for group, views in groups.items():
        name = group if not group.startswith("~") else next(iter(views.values())).path
        entities[name] = _entity(name, views, None)
    return _link_navigations(entities)


def _link_field(parent: EntityDef, child: EntityDef) -> str | None:
    """The child property pointing at the parent (``InvoiceID``, ``Account``, …)."""
    stem = singular(parent.main.path.rsplit("/", 1)[-1])
    candidates = [parent.key] if parent.key not in ("ID", "Timestamp") else []
    last_word = re.findall(r"[A-Z][a-z]*", stem)[-1:] or [stem]
    candidates += [stem, f"{stem}ID", f"{stem}Id", f"{last_word[0]}ID"]
    for name in candidates:
        if child.fields.get(name) in ("guid", "int", "string") and name != child.key:
            return name
    return None


def _link_navigations(entities: dict[str, EntityDef]) -> dict[str, EntityDef]:
    by_set: dict[str, list[EntityDef]] = {}
    for entity in entities.values():
        if "plain" in entity.views:
            by_set.setdefault(entity.path.rsplit("/", 1)[-1].lower(), []).append(entity)
    parents: dict[str, str] = {}
    for entity in list(entities.values()):
        targets: dict[str, tuple[str, str]] = {}
        service = entity.main.path.split("/", 1)[0].lower()
        for view in entity.views.values():
            for nav, of in view.navigations.items():
                found = by_set.get((of or nav).lower(), [])
                found = sorted(found, key=lambda e: e.path.split("/", 1)[0].lower() != service)
                for child in found:
                    link = _link_field(entity, child)
                    if link:
                        targets[nav] = (child.name, link)
                        parents.setdefault(child.name, link)
                        break
        if targets:
            entities[entity.name] = replace(entity, navigation_targets=targets)
    for name, link in parents.items():
        child = entities[name]
        if child.parent_field is None:
            entities[name] = replace(child, parent_field=link)
    return entities


ENTITIES: Mapping[str, EntityDef] = _build()

_PATHS: dict[str, tuple[EntityDef, Mode]] = {}
for _e in ENTITIES.values():
    for _m, _v in _e.views.items():
        _PATHS[_v.path.lower()] = (_e, _m)


@dataclass(frozen=True)
class Resolved:
    entity: EntityDef
    mode: Mode
    key: str | int | None
    navigation: str | None
    count: bool


_GUID = re.compile(r"^guid'([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12})'$")
_INT = re.compile(r"^(-?\d+)L?$")
_STRING = re.compile(r"^'((?:[^']|'')*)'$")
_PATH = re.compile(r"^(?P<base>[^()]+?)(?:\((?P<key>[^()]*)\))?(?P<rest>(?:/[^/()]+)*)/?$")


def parse_key(text: str, key_type: str, entity: EntityDef | None = None) -> str | int | None:
    """``guid'…'`` → lowercase str; ``123`` / ``123L`` → int; ``'EUR'`` → str;
    ``A=1,B=guid'…'`` (compound) → ``"1|…"``; anything else None."""
    text = text.strip()
    if key_type == "guid":
        m = _GUID.match(text)
        return m.group(1).lower() if m else None
    if key_type == "string":
        m3 = _STRING.match(text)
        return m3.group(1).replace("''", "'") if m3 else None
    if key_type == "compound" and entity is not None:
        parts: dict[str, str] = {}
        for piece in text.split(","):
            name, sep, value = piece.partition("=")
            if not sep:
                return None
            parts[name.strip()] = value.strip()
        values: list[str] = []
        for name in entity.keys:
            ftype = entity.fields.get(name, "int")
            kt = "guid" if ftype == "guid" else "string" if ftype == "string" else "int"
            parsed = parse_key(parts.get(name, ""), kt)
            if parsed is None:
                return None
            values.append(str(parsed))
        return "|".join(values)
    m2 = _INT.match(text)
    return int(m2.group(1)) if m2 else None


def resolve(service_path: str) -> Resolved | None:
    """Map the part after ``/api/v1/{division}/`` to an entity, mode, key, nav and ``$count``."""
    path = service_path.split("?", 1)[0].strip("/")
    m = _PATH.match(path)
    if m is None:
        return None
    base, key_text, rest = m.group("base"), m.group("key"), m.group("rest")
    segments = [s for s in rest.split("/") if s]
    count = False
    if segments and segments[-1].lower() == "$count":
        count = True
        segments.pop()
    if key_text is None and segments:  # "crm/Accounts/$count" has rest only when no key
        base = "/".join([base, *segments])
        segments = []
    hit = _PATHS.get(base.lower())
    if hit is None:
        return None
    entity, mode = hit
    key: str | int | None = None
    if key_text is not None:
        key_type = "int" if mode == "sync" or entity.key == "Timestamp" else entity.key_type
        key = parse_key(key_text, key_type, entity)
        if key is None:
            return None
    navigation: str | None = None
    if segments:
        if key is None or len(segments) != 1:
            return None
        wanted = segments[0].lower()
        navs = entity.view(mode).navigations
        navigation = next((n for n in navs if n.lower() == wanted), None)
        if navigation is None:
            return None
    return Resolved(entity=entity, mode=mode, key=key, navigation=navigation, count=count)


def nav_entity(entity: EntityDef, navigation: str) -> EntityDef | None:
    """The entity behind a navigation property, None for deferred-only navigations."""
    target = entity.navigation_targets.get(navigation)
    return ENTITIES.get(target[0]) if target else None


def nav_link(entity: EntityDef, navigation: str) -> str | None:
    """The nested entity's property that points back at ``entity`` (``InvoiceID``)."""
    target = entity.navigation_targets.get(navigation)
    return target[1] if target else None


def row_key(entity: EntityDef, row: Mapping[str, Any]) -> Any:
    """The storage key of a row (compound keys joined with ``|``)."""
    if entity.key_type == "compound":
        return "|".join(str(row.get(k)) for k in entity.keys)
    if entity.key == "Timestamp":
        return row.get("ID") if row.get("ID") is not None else row.get("Timestamp")
    return row[entity.key]
