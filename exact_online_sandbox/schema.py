"""Exact's API reference as the sandbox's schema: one view per endpoint, one entity per row set.

Every endpoint Exact serves (:func:`exact_online_reference.recorded.served`) becomes a
:class:`View`: its path, family, methods, page size, properties with their sandbox types, the
collections (``$expand``-able navigations) and which properties a ``POST``/``PUT`` takes. The
views of one stored set of rows (``crm/Accounts``, ``bulk/CRM/Accounts``, ``sync/CRM/Accounts``)
form one :class:`EntityDef`: rows are stored once with the union of the views' properties and
each endpoint shows its own subset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from exact_online_reference import Endpoint
from exact_online_reference.recorded import null_on_get

FieldType = Literal["guid", "string", "int", "int64", "decimal", "bool", "datetime", "binary",
                    "unknown"]
Mode = Literal["plain", "sync", "bulk"]
KeyType = Literal["guid", "int", "string", "compound"]

EDM: dict[str, FieldType] = {
    "Guid": "guid", "UTF8String": "string", "UTF8CodeString": "string", "DateTime": "datetime",
    "Boolean": "bool", "Byte": "int", "Int16": "int", "Int32": "int", "Int64": "int64",
    "Double": "decimal", "Binary": "binary",
}
"""Edm type → the sandbox's value type (``None`` in the reference → ``unknown``: always null)."""

FLAG_DEFAULTS: dict[str, Any] = {"Boolean": False, "Byte": 0}
"""Exact answers its flags with a value, never null: ``false`` (Boolean) and ``0`` (Byte)."""

AUDIT = ("Created", "Creator", "CreatorFullName", "Modified", "Modifier", "ModifierFullName")
SERVER_FIELDS = frozenset({*AUDIT, "Division", "Timestamp"})
"""Properties the server sets; a client may send them (Exact ignores them), never change them."""


def field_type(edm: str | None) -> FieldType:
    return EDM.get(edm or "", "unknown")


@dataclass(frozen=True)
class View:
    """One endpoint as the sandbox serves it."""

    path: str
    mode: Mode
    fields: Mapping[str, FieldType]
    navigations: Mapping[str, str | None]   # collection property → nested entity set
    methods: frozenset[str]
    page_size: int
    keys: tuple[str, ...]
    accepts: Mapping[str, frozenset[str]]   # POST/PUT → properties a body may carry
    required: tuple[str, ...]               # required properties, keys left out
    flags: Mapping[str, Any]                # never-null flags and their default

    def has(self, name: str) -> bool:
        return name in self.fields or name in self.navigations


def view_of(endpoint: Endpoint, mode: Mode) -> View:
    fields: dict[str, FieldType] = {}
    navigations: dict[str, str | None] = {}
    flags: dict[str, Any] = {}
    nullable = null_on_get(endpoint.path)
    for prop in endpoint.properties:
        if prop.is_collection:
            navigations[prop.name] = prop.of
            continue
        fields[prop.name] = field_type(prop.type)
        if prop.type in FLAG_DEFAULTS and prop.name not in nullable:
            flags[prop.name] = FLAG_DEFAULTS[prop.type]
    keys = endpoint.keys
    accepts = {m: frozenset(endpoint.accepted(m)) for m in ("POST", "PUT")}
    required = tuple(n for n in endpoint.required() if n not in keys)
    return View(path=endpoint.path, mode=mode, fields=fields, navigations=navigations,
                methods=endpoint.methods, page_size=endpoint.page_size, keys=keys,
                accepts=accepts, required=required, flags=flags)


@dataclass(frozen=True)
class EntityDef:
    """One stored set of rows and the endpoints (views) that show it.

    ``key`` names the storage key (for a sync-only set, the ``ID`` its rows carry; rows
    without one are keyed by their Timestamp). ``parent_field`` is the indexed reference
    column (``InvoiceID`` of a line); ``derived``: required properties the sandbox fills in
    when a client leaves them out, the way Exact does (a line's ``GLAccount`` from its item).
    """

    name: str
    key: str
    key_type: KeyType
    type_name: str
    views: Mapping[Mode, View]
    scope: str
    deleted_type: int | None = None
    webhook_topic: str | None = None
    division_scoped: bool = True
    storage: str | None = None
    parent_field: str | None = None
    navigation_targets: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    derived: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    sync_type_name: str | None = None
    one_of: tuple[tuple[str, ...], ...] = ()

    # --- derived views of the table ------------------------------------------------------
    @property
    def store_name(self) -> str:
        return self.storage or self.name

    @property
    def fields(self) -> Mapping[str, FieldType]:
        cached: dict[str, FieldType] | None = self.__dict__.get("_fields")
        if cached is None:
            cached = {}
            for view in self.views.values():
                for name, ftype in view.fields.items():
                    cached.setdefault(name, ftype)
            object.__setattr__(self, "_fields", cached)
        return cached

    @property
    def template(self) -> dict[str, Any]:
        """Every stored property null except the never-null flags (their default value)."""
        cached: dict[str, Any] | None = self.__dict__.get("_template")
        if cached is None:
            cached = dict.fromkeys(self.fields)
            for view in self.views.values():
                cached.update(view.flags)
            object.__setattr__(self, "_template", cached)
        return dict(cached)

    def view(self, mode: Mode) -> View:
        found = self.views.get(mode)
        if found is None:
            found = next(iter(self.views.values()))
        return found

    @property
    def main(self) -> View:
        return self.views.get("plain") or next(iter(self.views.values()))

    @property
    def path(self) -> str:
        plain = self.views.get("plain")
        return plain.path if plain else ""

    @property
    def sync_path(self) -> str | None:
        view = self.views.get("sync")
        return view.path if view else None

    @property
    def bulk_path(self) -> str | None:
        view = self.views.get("bulk")
        return view.path if view else None

    @property
    def methods(self) -> frozenset[str]:
        plain = self.views.get("plain")
        return plain.methods if plain else frozenset({"GET"})

    @property
    def navigations(self) -> Mapping[str, str | None]:
        return self.main.navigations

    @property
    def required(self) -> tuple[str, ...]:
        """Required on create: the reference's flags, less what the sandbox derives, the
        collections, and the ``one_of`` groups (checked as "at least one of")."""
        grouped = {n for group in self.one_of for n in group}
        return tuple(n for n in self.main.required
                     if n not in self.derived and n not in self.main.navigations
                     and n not in grouped)

    def visible_fields(self, mode: Mode) -> Mapping[str, FieldType]:
        return self.view(mode).fields

    def path_for(self, mode: Mode) -> str:
        return self.view(mode).path

    def type_for(self, mode: Mode) -> str:
        if mode == "sync" and self.sync_type_name:
            return self.sync_type_name
        return self.type_name


def singular(name: str) -> str:
    """``Accounts`` → ``Account``, ``PurchaseEntries`` → ``PurchaseEntry``."""
    for plural, single in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch")):
        if name.endswith(plural):
            return name[: -len(plural)] + single
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


MODELS = "Exact.Web.Api.Models."
_SERVICE_NAMESPACE = {"financialtransaction": "Financial.", "system": "System.",
                      "current": "System."}


def type_name_for(path: str) -> str:
    """``__metadata.type`` as Exact names it: ``Exact.Web.Api.Models.Account``,
    ``…Financial.TransactionLine``, ``…System.Division`` (the recorded forms)."""
    parts = path.split("/")
    if parts[0] in ("sync", "bulk"):
        return f"{MODELS}Sync.{parts[1]}.{singular(parts[-1])}" if parts[0] == "sync" \
            else f"{MODELS}{singular(parts[-1])}"
    service = parts[0].lower() if parts[0] != "beta" else parts[2].lower()
    return f"{MODELS}{_SERVICE_NAMESPACE.get(service, '')}{singular(parts[-1])}"


SCOPES: dict[str, str] = {
    "accountancy": "accountancy.practicemanagement", "activities": "crm.marketing",
    "assets": "financial.assets", "budget": "financial.budgets", "bulk": "",
    "cashflow": "financial.cashflow", "crm": "crm.accounts", "current": "",
    "documents": "organization.documents", "financial": "financial.generalledgers",
    "financialtransaction": "financial.accounting", "general": "financial.currencies",
    "generaljournalentry": "financial.accounting", "hrm": "hrm.employees",
    "inventory": "logistics.inventory", "logistics": "logistics.items",
    "mailbox": "communication.mailboxes", "manufacturing": "manufacturing.production",
    "openingbalance": "financial.generalledgers", "payroll": "hrm.payroll",
    "project": "projects.projects", "purchase": "purchase.invoices",
    "purchaseentry": "purchase.invoices", "purchaseorder": "purchase.orders",
    "sales": "sales.prices", "salesentry": "financial.accounting",
    "salesinvoice": "sales.invoices", "salesorder": "sales.orders",
    "subscription": "sales.contracts", "system": "organization.administration",
    "users": "organization.administration", "vat": "financial.accounting",
    "webhooks": "organization.administration", "workflow": "organization.workflow",
    "budgetscenarios": "financial.budgets",
}
"""App Center scope (``<area>.<scope>``) of an endpoint, by its service segment."""


def scope_for(path: str) -> str:
    parts = [p.lower() for p in path.split("/")]
    if parts[0] in ("sync", "bulk", "read"):
        service = parts[1]
        service = {"crm": "crm", "salesinvoice": "salesinvoice", "salesorder": "salesorder",
                   "financial": "financialtransaction" if parts[-1] == "transactionlines"
                   else "financial", "cashflow": "cashflow", "logistics": "logistics",
                   "inventory": "inventory", "documents": "documents", "project": "project",
                   "purchaseorder": "purchaseorder", "subscription": "subscription",
                   "manufacturing": "manufacturing", "payroll": "payroll", "hrm": "hrm",
                   "sales": "sales"}.get(service, service)
        if parts[0] == "read" and parts[-1] in ("receivableslist", "agingreceivableslist"):
            return "financial.receivables"
        if parts[0] == "read" and parts[-1] in ("payableslist", "agingpayableslist"):
            return "financial.payables"
    elif parts[0] == "beta":
        service = parts[2]
    else:
        service = parts[0]
    return SCOPES.get(service, "organization.administration") or "organization.administration"
