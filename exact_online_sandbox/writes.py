"""Writes of the table-driven entities (accounts, contacts, items, projects) and their rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import joined
from .entities import ENTITIES, EntityDef, nav_entity, nav_link, row_key
from .errors import ExactApiError
from .rules import (
    COUNTRY_NAMES,
    auto_code,
    blank,
    coerce_body,
    fill_flags,
    full_name,
    invalid,
    mandatory,
    new_guid,
    pad_code,
    pad_country,
)
from .store import CODE_ENTITIES

if TYPE_CHECKING:
    from .backend import Backend


def not_found() -> ExactApiError:
    return ExactApiError(404, "Not found")


def create(b: Backend, entity: EntityDef, division: int, body: Any) -> dict[str, Any]:
    values, navs = coerce_body(entity, body, "POST")
    row = blank(entity)
    row.update({k: v for k, v in values.items() if v is not None or k not in entity.defaults})
    if entity.key_type != "compound":
        key = row.get(entity.key)
        if key is None:
            if entity.key_type != "guid":
                raise mandatory(entity.key)
            row[entity.key] = new_guid()
        elif b.find(entity, division, key) is not None:
            raise ExactApiError(400, f"Duplicate key: {entity.key} already exists.")
    _check_required(entity, row)
    b.stamp(row, division, created=True)
    _derive(b, entity, division, row, None)
    fill_flags(entity, row)
    b.save(entity, division, row)
    _create_nested(b, entity, division, row, navs)
    _follow(b, entity, division, row)
    b.emit(entity, division, "Create", row_key(entity, row))
    return row


def _follow(b: Backend, entity: EntityDef, division: int, row: dict[str, Any]) -> None:
    """Rows kept from this one: a purchase order's sync rows; a financial entry's Modified."""
    order = joined.order_of(entity.name, row)
    if order is not None:
        joined.refresh(b, division, order)
    _restamp_entry(b, entity, division, row)


ENTRY_OF: Mapping[str, str] = {
    child: entity.name
    for entity in ENTITIES.values() if entity.path.endswith("Entries")
    for child, link in entity.navigation_targets.values() if link == "EntryID"
}
"""Line entity → its financial entry (purchase, sales, general journal, bank, cash entries)."""


def _restamp_entry(b: Backend, entity: EntityDef, division: int, row: Mapping[str, Any]) -> None:
    """Exact saves a financial entry with its lines: a write to a line restamps the entry's
    Modified (the recorded POST of a purchase entry answers a Modified later than its Created,
    equal to the Modified of the entry's ledger lines)."""
    parent_name = ENTRY_OF.get(entity.name)
    if parent_name is None or not row.get("EntryID"):
        return
    parent = ENTITIES[parent_name]
    entry = b.find(parent, division, row["EntryID"])
    if entry is None or "Modified" not in parent.fields:
        return
    b.stamp(entry, division, created=False)
    b.save(parent, division, entry)
    b.emit(parent, division, "Update", row_key(parent, entry))


def _create_nested(b: Backend, entity: EntityDef, division: int, row: dict[str, Any],
                   navs: Mapping[str, Any]) -> None:
    """Lines sent inline with their header (``PurchaseEntryLines`` of a purchase entry)."""
    for nav, raw in navs.items():
        child, link = nav_entity(entity, nav), nav_link(entity, nav)
        if raw is None:
            continue
        items = raw.get("results") if isinstance(raw, Mapping) else raw
        if not isinstance(items, list):
            raise invalid(nav, "expected a list")
        if child is None or link is None or "POST" not in child.methods:
            if items:
                raise invalid(nav, "cannot be created inline")
            continue
        for n, item in enumerate(items, start=1):
            if not isinstance(item, Mapping):
                raise invalid(nav, "expected a list of objects")
            values, _ = coerce_body(child, item, "POST")
            line = blank(child)
            line.update(values)
            line[link] = row_key(entity, row)
            if child.key_type == "guid" and line.get(child.key) is None:
                line[child.key] = new_guid()
            if "LineNumber" in child.fields and line.get("LineNumber") is None:
                line["LineNumber"] = n
            _check_required(child, line)
            b.stamp(line, division, created=True)
            b.save(child, division, fill_flags(child, line))


def update(b: Backend, entity: EntityDef, division: int, key: Any, body: Any) -> None:
    row = b.find(entity, division, key)
    if row is None:
        raise not_found()
    values, _ = coerce_body(entity, body, "PUT")
    values.pop(entity.key, None)
    before = dict(row)
    row.update(values)
    _check_required(entity, row)
    b.stamp(row, division, created=False)
    _derive(b, entity, division, row, before)
    b.save(entity, division, row)
    _follow(b, entity, division, row)
    b.emit(entity, division, "Update", key)


def delete(b: Backend, entity: EntityDef, division: int, key: Any) -> None:
    row = b.find(entity, division, key)
    if row is None:
        raise not_found()
    if entity.name == "Accounts":
        _guard_account_delete(b, division, str(key))
    if entity.name == "Items" and _used(b, ENTITIES["SalesInvoiceLines"], division,
                                             "Item", str(key)):
        raise ExactApiError(400, "Cannot delete: Item - Used in: Sales invoice lines")
    b.store.delete(entity.store_name, b.scope_division(entity, division), key)
    for nav in entity.navigations:
        child, link = nav_entity(entity, nav), nav_link(entity, nav)
        if child is not None and link is not None and link == child.parent_field \
                and "DELETE" in child.methods:
            b.store.delete_children(child.store_name, division, str(key))
    b.record_deleted(entity, division, str(key))
    if entity.name == joined.ORDERS:
        b.record_deleted(ENTITIES[joined.SYNC], division, str(key))
    _follow(b, entity, division, row)
    b.emit(entity, division, "Delete", key)


def _used(b: Backend, entity: EntityDef, division: int, field: str, value: str) -> bool:
    if entity.parent_field == field:
        sql = "SELECT 1 FROM rows WHERE entity = ? AND division = ? AND parent = ? LIMIT 1"
        return bool(b.store.scalar(sql, [entity.store_name, division, value]))
    sql = ("SELECT 1 FROM rows WHERE entity = ? AND division = ? "
           "AND json_extract(data, ?) = ? LIMIT 1")
    return bool(b.store.scalar(sql, [entity.store_name, division, f"$.{field}", value]))

def _guard_account_delete(b: Backend, division: int, key: str) -> None:
    invoices_def = ENTITIES["SalesInvoices"]
    for field in ("OrderedBy", "InvoiceTo"):
        if _used(b, invoices_def, division, field, key):
            raise ExactApiError(400, "Cannot delete: Account - Used in: Sales invoices")
    contacts = ENTITIES["Contacts"]
    for contact in b.children(contacts, division, [key]):
        b.store.delete(contacts.store_name, division, contact["ID"])
        b.record_deleted(contacts, division, contact["ID"])
        b.emit(contacts, division, "Delete", contact["ID"])

def _check_required(entity: EntityDef, row: Mapping[str, Any]) -> None:
    """Every property the reference marks required (but those the sandbox derives)."""
    def blank_value(value: Any) -> bool:
        return value is None or (isinstance(value, str) and not value.strip())

    for name in entity.required:
        if blank_value(row.get(name)):
            raise mandatory(name)
    for group in entity.one_of:
        if all(blank_value(row.get(name)) for name in group):
            raise mandatory(group[-1])

def _require_ref(b: Backend, name: str, entity_name: str, division: int, key: Any) -> dict[
        str, Any]:
    ref = b.find(ENTITIES[entity_name], division, key) if key else None
    if ref is None:
        raise invalid(name, f"{entity_name[:-1]} {key} does not exist")
    return ref

def _unique(b: Backend, entity: EntityDef, division: int, field: str, value: Any, key: Any,
            label: str) -> None:
    """Codes are unique per division (uses the store's partial ``rows_code_*`` indexes)."""
    assert field == "Code" and entity.store_name in CODE_ENTITIES
    sql = (f"SELECT count(*) FROM rows WHERE entity = '{entity.store_name}' AND division = ? "
           f"AND json_extract(data, '$.Code') = ? AND key != ?")
    if b.store.scalar(sql, [division, value, key]):
        raise ExactApiError(400, f"{label} already exists: {str(value).strip()}")


def _derive(b: Backend, entity: EntityDef, division: int, row: dict[str, Any],
            before: dict[str, Any] | None) -> None:
    """Entity rules on top of the generic write (padding, lookups, defaults)."""
    div = b.division_row(division)
    key = row[entity.key]
    if entity.name == "Accounts":
        if row.get("Code") is None:
            row["Code"] = auto_code(b.store.next_values(division, "account-code"))
        else:
            row["Code"] = pad_code(row["Code"])
        if before is None or before.get("Code") != row["Code"]:
            _unique(b, entity, division, "Code", row["Code"], key, "Code")
        row["Country"] = pad_country(row.get("Country"))
        row["CountryName"] = COUNTRY_NAMES.get((row["Country"] or "").strip())
        if before is None:
            for name, value in (("Status", "C"), ("IsSales", True), ("IsPurchase", True),
                                ("IsSupplier", False), ("Blocked", False),
                                ("SalesCurrency", div.get("Currency")), ("Type", "A"),
                                ("StartDate", b.now_ms() // 86_400_000 * 86_400_000)):
                if row.get(name) is None:
                    row[name] = value
    elif entity.name == "Contacts":
        account = _require_ref(b, "Account", "Accounts", division, row.get("Account"))
        row.update(AccountName=account.get("Name"),
                   AccountIsCustomer=account.get("Status") == "C",
                   AccountIsSupplier=bool(account.get("IsSupplier")),
                   AccountMainContact=account.get("MainContact"),
                   Country=account.get("Country"),
                   FullName=full_name(row.get("FirstName"), row.get("MiddleName"),
                                      row.get("LastName")))
        if before is None:
            row["HID"] = b.store.next_values(division, "contact-hid", start=1000)
            row["Person"] = new_guid()
            if row.get("Code") is None:
                row["Code"] = auto_code(b.store.next_values(division, "contact-code"))
    elif entity.name == "Items":
        if before is None or before.get("Code") != row["Code"]:
            _unique(b, entity, division, "Code", row["Code"], key, "Code")
        if before is None:
            for name, value in (("Unit", "pc"), ("IsSalesItem", True),
                                ("IsPurchaseItem", False), ("IsStockItem", False),
                                ("StandardSalesPrice", 0.0),
                                ("CostPriceCurrency", div.get("Currency"))):
                if row.get(name) is None:
                    row[name] = value
            for n in range(1, 6):
                if row.get(f"FreeBoolField_{n:02d}") is None:
                    row[f"FreeBoolField_{n:02d}"] = False
        if row.get("Unit"):
            row["Unit"] = row["Unit"].strip().ljust(8)
            row["UnitDescription"] = _UNITS.get(row["Unit"].strip(), row["Unit"].strip())
    elif entity.name == "Projects":
        if before is None or before.get("Code") != row["Code"]:
            _unique(b, entity, division, "Code", row["Code"], key, "Code")
        if row.get("Account"):
            account = _require_ref(b, "Account", "Accounts", division, row["Account"])
            row.update(AccountCode=account.get("Code"), AccountName=account.get("Name"))
        row["TypeDescription"] = _PROJECT_TYPES.get(row.get("Type") or 0)
    elif entity.name == "WebhookSubscriptions":
        row["UserID"] = row.get("Creator")
    elif entity.name == PRICES:
        _derive_price(b, division, row, div)


PRICES = "logistics/SalesItemPrices"


def _derive_price(b: Backend, division: int, row: dict[str, Any],
                  div: Mapping[str, Any]) -> None:
    """A sales price of an item: the item's names and unit copied in; a price for no account in
    particular is the item's standard sales price (``StandardSalesPrice``, read-only on
    logistics/Items, follows it)."""
    item = _require_ref(b, "Item", "Items", division, row.get("Item"))
    unit = (item.get("Unit") or "").strip() or None
    row.update(ItemCode=item.get("Code"), ItemDescription=item.get("Description"),
               DefaultItemUnit=unit, DefaultItemUnitDescription=item.get("UnitDescription"))
    row["Unit"] = row.get("Unit") or unit
    row["UnitDescription"] = item.get("UnitDescription")
    row["Currency"] = row.get("Currency") or div.get("Currency")
    if row.get("NumberOfItemsPerUnit") is None:
        row["NumberOfItemsPerUnit"] = 1.0
    if row.get("Quantity") is None:
        row["Quantity"] = 0.0
    if row.get("Account"):
        account = _require_ref(b, "Account", "Accounts", division, row["Account"])
        row["AccountName"] = account.get("Name")
    elif row.get("Price") is not None and item.get("StandardSalesPrice") != row["Price"]:
        item["StandardSalesPrice"] = float(row["Price"])
        b.stamp(item, division, created=False)
        b.save(ENTITIES["Items"], division, item)
        b.emit(ENTITIES["Items"], division, "Update", item["ID"])


_UNITS = {"pc": "Piece", "hr": "Hour", "kg": "Kilogram", "m": "Meter", "box": "Box"}
_PROJECT_TYPES = {1: "Campaign", 2: "Fixed price", 3: "Time and Material", 4: "Non billable",
                  5: "Prepaid"}
