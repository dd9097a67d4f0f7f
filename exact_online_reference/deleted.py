"""Exact's ``sync/Deleted`` EntityType codes as data: which entity sets each code's deletions cover.

Sources. Codes 1 to 49 and their names: Exact's reference page for ``sync/Deleted``
(``HlpRestAPIResourcesDetails.aspx?name=SyncDeleted``) as copied into picqer/exact-php-client
``SyncDeleted.php``. Codes 50 to 59: paddynatte/exact-online-python ``models/sync.py``
(``EntityType``), which carries 1 to 49 identically. Code 11 (``Quotations``) appears only in
older copies (fretje/exactonline-api-dotnet-client); Exact's page no longer lists it. No source
lists a code 52.

``entity_sets`` names the entity sets (an endpoint's last segment: ``crm/Accounts``,
``sync/CRM/Accounts`` and ``bulk/CRM/Accounts`` are the entity set ``Accounts``) whose
deletions Exact logs with the code. A name is qualified with its service
(``Payroll/BankAccounts``) where the bare name is another entity set too (``crm/BankAccounts``
holds an account's bank accounts, not an employee's). Where the table decides more than the
names say, the row's ``note`` gives the reason:

- 4 ``Attachments`` covers ``DocumentAttachments``: Exact's only attachment entity set with a
  sync endpoint (``sync/Documents/DocumentAttachments``).
- 8 ``ItemPrices`` covers ``SalesItemPrices`` (``sync/Logistics/SalesItemPrices``).
  ``PurchaseItemPrices`` and ``SupplierItem`` are covered by no code here: no source says which
  code (8 or 30 ``ItemAccounts``) Exact logs their deletions with, so neither the tap nor the
  sandbox claims one.
- 11 ``Quotations`` and 12 ``SalesOrders`` cover nothing: Exact's page marks 12 as "going to be
  removed ... refer to the new entity SalesOrderHeaders, SalesOrderLines" and lists no 11, so a
  quotation or sales order is logged as its header: ``Quotations`` (``crm/Quotations``, the
  plain twin of ``sync/CRM/QuotationHeaders``) is under 34 and ``SalesOrders``
  (``salesorder/SalesOrders``, twin of ``sync/SalesOrder/SalesOrderHeaders``) under 32.
- 13 ``SalesInvoices`` covers the invoices only; whether ``EntityKey`` is then the invoice or a
  line of ``sync/SalesInvoice/SalesInvoices`` is not documented, so ``SalesInvoiceLines`` is
  under no code (the core's unified invoice models handle 13 themselves).
- 30, 31, 53: Exact serves no entity set of that name (``RequirementIssues`` is not
  ``MaterialIssues``), so they cover nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

FAMILY_PREFIXES = frozenset({"sync", "bulk"})
"""An endpoint's family prefix, dropped before its entity set is looked up."""


@dataclass(frozen=True)
class DeletedType:
    """One ``sync/Deleted`` EntityType: its code, Exact's name for it, the entity sets it covers."""

    code: int
    name: str
    entity_sets: tuple[str, ...]
    source: str = "exact"
    note: str = ""


_EXACT = "exact"  # Exact's SyncDeleted page (picqer SyncDeleted.php)
_PADDY = "paddynatte"  # paddynatte models/sync.py
_FRETJE = "fretje"  # fretje Models/Sync/Deleted.cs (older)


def _same(code: int, name: str, source: str = _EXACT) -> DeletedType:
    """A code whose entity set has the code's own name."""
    return DeletedType(code, name, (name,), source)


DELETED_TYPES: tuple[DeletedType, ...] = (
    _same(1, "TransactionLines"),
    _same(2, "Accounts"),
    _same(3, "Addresses"),
    DeletedType(4, "Attachments", ("DocumentAttachments",),
                note="the attachment entity set with a sync endpoint"),
    _same(5, "Contacts"),
    _same(6, "Documents"),
    _same(7, "GLAccounts"),
    DeletedType(8, "ItemPrices", ("SalesItemPrices",),
                note="PurchaseItemPrices and SupplierItem: code not documented"),
    _same(9, "Items"),
    _same(10, "PaymentTerms"),
    DeletedType(11, "Quotations", (), _FRETJE, note="old; a quotation is logged as 34"),
    DeletedType(12, "SalesOrders", (), note="deprecated; a sales order is logged as 32"),
    _same(13, "SalesInvoices"),
    _same(14, "TimeCostTransactions"),
    _same(15, "StockPositions"),
    _same(16, "GoodsDeliveries"),
    _same(17, "GoodsDeliveryLines"),
    _same(18, "GLClassifications"),
    _same(19, "ItemWarehouses"),
    _same(20, "StorageLocationStockPositions"),
    _same(21, "Projects"),
    _same(22, "PurchaseOrders"),
    _same(23, "Subscriptions"),
    _same(24, "SubscriptionLines"),
    _same(25, "ProjectWBS"),
    _same(26, "ProjectPlanning"),
    _same(27, "LeaveAbsenceHoursByDay"),
    _same(28, "SerialBatchNumbers"),
    _same(29, "StockSerialBatchNumbers"),
    DeletedType(30, "ItemAccounts", (), note="Exact serves no entity set of this name"),
    DeletedType(31, "DiscountTables", (), note="Exact serves no entity set of this name"),
    DeletedType(32, "SalesOrderHeaders", ("SalesOrderHeaders", "SalesOrders"),
                note="SalesOrders: salesorder/SalesOrders is the headers' plain twin"),
    _same(33, "SalesOrderLines"),
    DeletedType(34, "QuotationHeaders", ("QuotationHeaders", "Quotations"),
                note="Quotations: crm/Quotations is the headers' plain twin"),
    _same(35, "QuotationLines"),
    _same(36, "ShopOrders"),
    _same(37, "ShopOrderMaterialPlans"),
    _same(38, "ShopOrderRoutingStepPlans"),
    _same(39, "Schedules"),
    _same(40, "ScheduleEntries"),
    _same(41, "ItemStorageLocations"),
    _same(42, "Employees"),
    _same(43, "Employments"),
    _same(44, "EmploymentContracts"),
    _same(45, "EmploymentOrganizations"),
    _same(46, "EmploymentCLAs"),
    _same(47, "EmploymentSalaries"),
    DeletedType(48, "BankAccounts", ("Payroll/BankAccounts",),
                note="an employee's bank accounts; crm/BankAccounts is not under it"),
    _same(49, "EmploymentTaxAuthoritiesGeneral"),
    _same(50, "ShopOrderPurchasePlanning", _PADDY),
    _same(51, "ShopOrderSubOrders", _PADDY),
    DeletedType(53, "RequirementIssues", (), _PADDY,
                note="Exact serves no entity set of this name"),
    _same(54, "BillOfMaterialMaterials", _PADDY),
    _same(55, "BillOfMaterialVersions", _PADDY),
    _same(56, "LeaveRegistrations", _PADDY),
    _same(57, "LeaveBuildUpRegistrations", _PADDY),
    _same(58, "AbsenceRegistrationTransactions", _PADDY),
    _same(59, "AbsenceRegistrations", _PADDY),
)
"""Every documented ``sync/Deleted`` EntityType, by code."""


@cache
def _index() -> dict[str, int]:
    index: dict[str, int] = {}
    for entry in DELETED_TYPES:
        for entity_set in entry.entity_sets:
            key = entity_set.lower()
            if key in index:
                raise ValueError(f"entity set {entity_set} is under codes {index[key]} and "
                                 f"{entry.code}")
            index[key] = entry.code
    return index


def deleted_type(name_or_endpoint: str) -> int | None:
    """The ``sync/Deleted`` EntityType of an entity set, or None when Exact logs none for it.

    Takes an entity set name (``Accounts``) or an endpoint of any family (``crm/Accounts``,
    ``sync/CRM/Accounts``, ``bulk/CRM/Accounts``); case does not matter. A service-qualified
    entity set (``Payroll/BankAccounts``) is found only through its service.
    """
    parts = [p for p in name_or_endpoint.strip().strip("/").split("/") if p]
    if not parts:
        return None
    if len(parts) > 1 and parts[0].lower() in FAMILY_PREFIXES:
        parts = parts[1:]
    index = _index()
    if len(parts) > 1:
        qualified = index.get(f"{parts[-2]}/{parts[-1]}".lower())
        if qualified is not None:
            return qualified
    return index.get(parts[-1].lower())


def covered_by(code: int) -> DeletedType | None:
    """The documented EntityType ``code``, or None when no source lists it."""
    return next((entry for entry in DELETED_TYPES if entry.code == code), None)


__all__ = ["DELETED_TYPES", "DeletedType", "covered_by", "deleted_type"]
