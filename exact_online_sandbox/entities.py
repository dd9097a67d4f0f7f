"""The table of Exact entities the sandbox serves: paths, keys, fields, sync/bulk, scopes, rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FieldType = Literal["guid", "string", "int", "int64", "decimal", "bool", "datetime"]
Mode = Literal["plain", "sync", "bulk"]

_CODES: dict[str, FieldType] = {
    "g": "guid", "s": "string", "i": "int", "I": "int64", "m": "decimal", "b": "bool",
    "d": "datetime",
}


def _f(spec: str) -> dict[str, FieldType]:
    """Parse ``"ID:g Name Amount:m Free{01-05}:b"``; no suffix = string; ``{a-b}`` expands."""
    out: dict[str, FieldType] = {}
    for token in spec.split():
        name, _, code = token.partition(":")
        ftype = _CODES[code or "s"]
        m = re.fullmatch(r"(.*)\{(\d+)-(\d+)\}", name)
        if m:
            width = len(m.group(2))
            for n in range(int(m.group(2)), int(m.group(3)) + 1):
                out[f"{m.group(1)}{n:0{width}d}"] = ftype
        else:
            out[name] = ftype
    return out


AUDIT = "Created:d Creator:g CreatorFullName Division:i Modified:d Modifier:g ModifierFullName"
# Fields the server sets; a client may send them (Exact ignores them) but never changes them.
SERVER_FIELDS = frozenset(
    {"Created", "Creator", "CreatorFullName", "Division", "Modified", "Modifier",
     "ModifierFullName", "Timestamp"}
)


@dataclass(frozen=True)
class EntityDef:
    name: str
    path: str
    key: str
    key_type: Literal["guid", "int"]
    type_name: str
    fields: Mapping[str, FieldType]
    methods: frozenset[str]
    scope: str
    sync_path: str | None = None
    bulk_path: str | None = None
    deleted_type: int | None = None
    webhook_topic: str | None = None
    division_scoped: bool = True
    # --- sandbox additions (optional; the contract's fields come first) ---
    storage: str | None = None            # rows live under another entity's name (AllDivisions)
    parent_field: str | None = None       # indexed reference column (InvoiceID, Account, ...)
    navigations: Mapping[str, str] = field(default_factory=dict)  # nav -> entity name ("" = none)
    required: tuple[str, ...] = ()         # mandatory on POST
    read_only: frozenset[str] = frozenset()  # computed fields a client may send but never sets
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def store_name(self) -> str:
        return self.storage or self.name

    def visible_fields(self, mode: Mode) -> Mapping[str, FieldType]:
        """Fields of one endpoint: ``Timestamp`` shows only on the sync endpoint."""
        if mode != "sync" and "Timestamp" in self.fields and self.key != "Timestamp":
            return {k: v for k, v in self.fields.items() if k != "Timestamp"}
        return self.fields

    def path_for(self, mode: Mode) -> str:
        if mode == "sync":
            return self.sync_path or self.path
        if mode == "bulk":
            return self.bulk_path or self.path
        return self.path


@dataclass(frozen=True)
class Resolved:
    entity: EntityDef
    mode: Mode
    key: str | int | None
    navigation: str | None
    count: bool


ACCOUNT_FIELDS = _f(
    "ID:g Accountant:g AccountManager:g AccountManagerFullName AccountManagerHID:i "
    "ActivitySector:g AddressLine1 AddressLine2 AddressLine3 Blocked:b BusinessType:g "
    "CanDropShip:b ChamberOfCommerce City Classification:g Classification{1-8}:g "
    "ClassificationDescription Code CodeAtSupplier CompanySize:g ConsolidationScenario:i "
    "CostPaid:i Country CountryName Created:d Creator:g CreatorFullName CreditLinePurchase:m "
    "CreditLineSales:m Currency CustomerSince:d DiscountPurchase:m DiscountSales:m Division:i "
    "Email EndDate:d EstablishedDate:d Fax GLAP:g GLAR:g InvoiceAccount:g InvoiceAccountCode "
    "InvoiceAccountName IsAccountant:i IsAgency:i IsAnonymised:i IsBank:b IsCompetitor:i "
    "IsMailing:i IsMember:b IsPilot:b IsPurchase:b IsReseller:b IsSales:b IsSupplier:b "
    "Language LanguageDescription Latitude:m LeadSource:g Longitude:m MainContact:g Modified:d "
    "Modifier:g ModifierFullName Name Parent:g PaymentConditionPurchase PaymentConditionSales "
    "Phone PhoneExtension Postcode PriceList:g PurchaseCurrency Remarks SalesCurrency "
    "SalesVATCode SearchCode SecurityLevel:i StartDate:d State StateName Status "
    "StatusSince:d TradeName Type VATLiability VATNumber Website EORINumber Source:i "
    "Timestamp:I"
)

CONTACT_FIELDS = _f(
    "ID:g Account:g AccountIsCustomer:b AccountIsSupplier:b AccountMainContact:g AccountName "
    "AddressLine2 AddressStreet AddressStreetNumber AddressStreetNumberSuffix BirthDate:d "
    "BirthName BusinessEmail BusinessFax BusinessMobile BusinessPhone BusinessPhoneExtension "
    "City Code Country Created:d Creator:g CreatorFullName Division:i Email EndDate:d "
    "FirstName FullName Gender HID:i Initials IsAnonymised:i IsMailingExcluded:b "
    "IsMainContact:b JobTitleDescription Language LastName MiddleName Mobile Modified:d "
    "Modifier:g ModifierFullName Nationality Notes Person:g Phone PhoneExtension Postcode "
    "StartDate:d State Title Timestamp:I"
)

ITEM_FIELDS = _f(
    "ID:g AverageCost:m Barcode Class_{01-10} Code CopyRemarks:i CostPriceCurrency "
    "CostPriceNew:m CostPriceStandard:m Created:d Creator:g CreatorFullName Description "
    "Division:i EndDate:d ExtraDescription FreeBoolField_{01-05}:b FreeDateField_{01-05}:d "
    "FreeNumberField_{01-08}:m FreeTextField_{01-10} GLCosts:g GLRevenue:g GLStock:g "
    "GrossWeight:m IsFractionAllowedItem:b IsMakeItem:i IsPackageItem:b IsPurchaseItem:b "
    "IsSalesItem:b IsSerialItem:b IsStockItem:b IsSubcontractedItem:b IsTime:i "
    "IsWebshopItem:i ItemGroup:g ItemGroupCode ItemGroupDescription Modified:d Modifier:g "
    "ModifierFullName NetWeight:m Notes PictureUrl SalesVatCode SalesVatCodeDescription "
    "SearchCode SecurityLevel:i StandardSalesPrice:m StartDate:d Stock:m Unit UnitDescription "
    "UnitType Timestamp:I"
)

INVOICE_HEADER = (
    "AmountDC:m AmountDiscount:m AmountDiscountExclVat:m AmountFC:m AmountFCExclVat:m "
    "Created:d Creator:g CreatorFullName Currency DeliverTo:g DeliverToAddress:g "
    "DeliverToContactPerson:g DeliverToContactPersonFullName DeliverToName Description "
    "Discount:m DiscountType:i Division:i Document:g DueDate:d InvoiceDate:d InvoiceID:g "
    "InvoiceNumber:i InvoiceTo:g InvoiceToContactPerson:g InvoiceToContactPersonFullName "
    "InvoiceToName Journal JournalDescription Modified:d Modifier:g ModifierFullName "
    "OrderDate:d OrderedBy:g OrderedByContactPerson:g OrderedByContactPersonFullName "
    "OrderedByName OrderNumber:i PaymentCondition PaymentConditionDescription "
    "PaymentReference Remarks Salesperson:g SalespersonFullName Status:i StatusDescription "
    "Type:i TypeDescription VATAmountFC:m VATAmountDC:m Warehouse:g YourRef"
)
INVOICE_FIELDS = {"InvoiceID": "guid", **_f(INVOICE_HEADER)}

LINE_FIELDS = _f(
    "ID:g AmountDC:m AmountFC:m CostCenter CostUnit CustomerItemCode DeliveryDate:d "
    "Description Discount:m Division:i Employee:g EndTime:d GLAccount:g GLAccountDescription "
    "InvoiceID:g Item:g ItemCode ItemDescription LineNumber:i NetPrice:m Notes Pricelist:g "
    "Project:g Quantity:m StartTime:d UnitCode UnitDescription UnitPrice:m VATAmountDC:m "
    "VATAmountFC:m VATCode VATCodeDescription VATPercentage:m"
)
LINE_ONLY = (
    "ID", "Item", "ItemCode", "ItemDescription", "LineNumber", "NetPrice", "Quantity",
    "UnitPrice", "UnitCode", "UnitDescription", "VATCode", "VATCodeDescription",
    "VATPercentage", "GLAccount", "GLAccountDescription", "DeliveryDate", "Notes", "Project",
    "CostCenter", "CostUnit", "StartTime", "EndTime", "Employee", "Pricelist",
    "CustomerItemCode",
)
# One row per invoice line; header fields denormalised; AmountFC/AmountDC/VATAmount*,
# Description and Discount are the line's, AmountFCExclVat/AmountDiscount* the header's.
SYNC_INVOICE_FIELDS: dict[str, FieldType] = {
    "Timestamp": "int64",
    **{k: v for k, v in INVOICE_FIELDS.items()},
    **{k: LINE_FIELDS[k] for k in LINE_ONLY},
}
# Header fields copied onto each sync row (the line's own values win for the rest).
SYNC_HEADER_FIELDS = tuple(
    k for k in INVOICE_FIELDS
    if k not in {"AmountDC", "AmountFC", "VATAmountFC", "VATAmountDC", "Description",
                 "Discount", "Created", "Creator", "CreatorFullName", "Modified", "Modifier",
                 "ModifierFullName"}
)

RECEIVABLE_FIELDS = _f(
    "ID:g Account:g AccountCode AccountName AmountDC:m AmountDiscountDC:m AmountDiscountFC:m "
    "AmountFC:m Created:d Creator:g CreatorFullName Currency Description Division:i "
    "DueDate:d EndDate:d EntryDate:d EntryID:g EntryNumber:i GLAccount:g GLAccountCode "
    "InvoiceDate:d InvoiceNumber:i IsFullyPaid:b Journal JournalDescription "
    "LastPaymentDate:d Modified:d Modifier:g ModifierFullName PaymentCondition "
    "PaymentConditionDescription PaymentDays:i PaymentMethod PaymentReference RateFC:m "
    "Source:i Status:i TransactionAmountDC:m TransactionAmountFC:m TransactionDueDate:d "
    "TransactionEntryID:g TransactionIsReversal:b TransactionType:i YourRef"
)

RECEIVABLES_LIST_FIELDS = _f(
    "HID:I AccountCode AccountId:g AccountName Amount:m AmountInTransit:m CurrencyCode "
    "Description DueDate:d EntryNumber:i Id:g InvoiceDate:d InvoiceNumber:i JournalCode "
    "JournalDescription YourRef"
)

PROJECT_FIELDS = _f(
    "ID:g Account:g AccountCode AccountName BudgetedAmount:m BudgetedCosts:m "
    "BudgetedRevenue:m Classification:g ClassificationDescription Code Created:d Creator:g "
    "CreatorFullName CustomerPOnumber Description Division:i EndDate:d FixedPriceItem:g "
    "InvoiceAsQuoted:b Manager:g ManagerFullname Modified:d Modifier:g ModifierFullName "
    "Notes SalesTimeQuantity:m StartDate:d Type:i TypeDescription Timestamp:I"
)

DIVISION_FIELDS = _f(
    "Code:i AddressLine1 AddressLine2 AddressLine3 ArchiveDate:d BlockingStatus:i "
    "ChamberOfCommerceNumber City Class_{01-05}:g Country Created:d Creator:g "
    "CreatorFullName Currency Current:b Customer:g CustomerCode CustomerName Description "
    "DivisionHRLinkUnlinkDate:d DivisionMoveDate:d Email Hid IsDossierDivision:b "
    "IsHRDivision:b IsMainDivision:b IsPracticeDivision:b Legislation Modified:d Modifier:g "
    "ModifierFullName Phone Postcode StartDate:d State Status:i TemplateCode VATNumber Website"
)

USER_FIELDS = _f(
    "UserID:g Created:d Creator:g CreatorFullName Customer:g CustomerName Email EndDate:d "
    "FirstName FullName Gender Initials IsAnonymised:i Language LastName MiddleName Mobile "
    "Modified:d Modifier:g ModifierFullName Nationality Notes Phone PhoneExtension "
    "StartDate:d Title UserName UserTypesList"
)

WEBHOOK_FIELDS = _f(
    "ID:g CallbackURL ClientID:g Created:d Creator:g CreatorFullName Description Division:i "
    "IsInstant:b Topic UserID:g"
)

DELETED_FIELDS = _f(
    "Timestamp:I DeletedBy:g DeletedDate:d Division:i EntityKey:g EntityType:i ID:g"
)

PRINTED_FIELDS = _f(
    "InvoiceID:g Division:i DocumentLayout:g EmailLayout:g ExtraText InvoiceDate:d "
    "PostboxMessageSubject PostboxMessageText PostboxSender:g ReportingPeriod:i "
    "ReportingYear:i SendEmailToCustomer:b SenderEmailAddress SendInvoiceToCustomerPostbox:b "
    "SendOutputBasedOnAccount:b"
)

RW = frozenset({"GET", "POST", "PUT", "DELETE"})
RO = frozenset({"GET"})
M = "Exact.Web.Api.Models."

_DEFS = (
    EntityDef("Divisions", "system/Divisions", "Code", "int", M + "System.Division",
              DIVISION_FIELDS, RO, "organization.administration", division_scoped=False),
    EntityDef("AllDivisions", "system/AllDivisions", "Code", "int", M + "System.AllDivision",
              DIVISION_FIELDS, RO, "organization.administration", division_scoped=False,
              storage="Divisions"),
    EntityDef("Users", "users/Users", "UserID", "guid", M + "Users.User", USER_FIELDS, RO,
              "organization.administration", division_scoped=False),
    EntityDef("Accounts", "crm/Accounts", "ID", "guid", M + "Account", ACCOUNT_FIELDS, RW,
              "crm.accounts", sync_path="sync/CRM/Accounts", bulk_path="bulk/CRM/Accounts",
              deleted_type=2, webhook_topic="Accounts", navigations={"BankAccounts": ""},
              required=("Name",),
              read_only=frozenset({"CountryName", "Type", "AccountManagerFullName",
                                   "ClassificationDescription", "InvoiceAccountCode",
                                   "InvoiceAccountName", "LanguageDescription", "StateName"})),
    EntityDef("Contacts", "crm/Contacts", "ID", "guid", M + "Contact", CONTACT_FIELDS, RW,
              "crm.accounts", sync_path="sync/CRM/Contacts", bulk_path="bulk/CRM/Contacts",
              deleted_type=5, webhook_topic="Contacts", parent_field="Account",
              required=("Account",),
              read_only=frozenset({"AccountName", "AccountIsCustomer", "AccountIsSupplier",
                                   "AccountMainContact", "FullName", "HID", "Country", "Person"})),
    EntityDef("Items", "logistics/Items", "ID", "guid", M + "Logistics.Item", ITEM_FIELDS, RW,
              "logistics.items", sync_path="sync/Logistics/Items",
              bulk_path="bulk/Logistics/Items", deleted_type=9, webhook_topic="Items",
              required=("Code", "Description"),
              read_only=frozenset({"ItemGroupCode", "ItemGroupDescription", "UnitDescription",
                                   "SalesVatCodeDescription", "Stock", "AverageCost",
                                   "PictureUrl"})),
    EntityDef("SalesInvoices", "salesinvoice/SalesInvoices", "InvoiceID", "guid",
              M + "SalesInvoice", INVOICE_FIELDS, RW, "sales.invoices",
              bulk_path="bulk/SalesInvoice/SalesInvoices", deleted_type=13,
              webhook_topic="SalesInvoices",
              navigations={"SalesInvoiceLines": "SalesInvoiceLines",
                           "SalesInvoiceOrderChargeLines": ""},
              required=("OrderedBy",),
              read_only=frozenset({"AmountDC", "AmountFC", "AmountFCExclVat", "VATAmountFC",
                                   "VATAmountDC", "AmountDiscount", "AmountDiscountExclVat",
                                   "InvoiceNumber", "StatusDescription", "TypeDescription",
                                   "InvoiceToName", "OrderedByName", "DeliverToName",
                                   "JournalDescription", "SalespersonFullName",
                                   "PaymentConditionDescription", "OrderNumber",
                                   "InvoiceToContactPersonFullName",
                                   "OrderedByContactPersonFullName",
                                   "DeliverToContactPersonFullName"})),
    EntityDef("SalesInvoiceLines", "salesinvoice/SalesInvoiceLines", "ID", "guid",
              M + "SalesInvoiceLine", LINE_FIELDS, RW, "sales.invoices",
              bulk_path="bulk/SalesInvoice/SalesInvoiceLines", parent_field="InvoiceID",
              required=("InvoiceID", "Item"),
              read_only=frozenset({"LineNumber", "AmountDC", "AmountFC", "VATAmountDC",
                                   "VATAmountFC", "ItemCode", "ItemDescription",
                                   "UnitDescription", "GLAccountDescription",
                                   "VATCodeDescription"})),
    EntityDef("SyncSalesInvoices", "", "Timestamp", "int",
              M + "Sync.SalesInvoice.SalesInvoice", SYNC_INVOICE_FIELDS, RO, "sales.invoices",
              sync_path="sync/SalesInvoice/SalesInvoices", parent_field="InvoiceID"),
    EntityDef("PrintedSalesInvoices", "salesinvoice/PrintedSalesInvoices", "InvoiceID", "guid",
              M + "PrintedSalesInvoice", PRINTED_FIELDS, frozenset({"POST"}),
              "sales.invoices", required=("InvoiceID",)),
    EntityDef("Receivables", "cashflow/Receivables", "ID", "guid", M + "Cashflow.Receivable",
              RECEIVABLE_FIELDS, RO, "financial.receivables",
              bulk_path="bulk/Cashflow/Receivables", parent_field="TransactionEntryID"),
    EntityDef("ReceivablesList", "read/financial/ReceivablesList", "HID", "int",
              M + "Financial.ReceivablesList", RECEIVABLES_LIST_FIELDS, RO,
              "financial.receivables", parent_field="Id"),
    EntityDef("Projects", "project/Projects", "ID", "guid", M + "Project.Project",
              PROJECT_FIELDS, RW, "projects.projects", sync_path="sync/Project/Projects",
              deleted_type=21, required=("Code", "Description"),
              read_only=frozenset({"AccountCode", "AccountName", "TypeDescription",
                                   "ManagerFullname", "ClassificationDescription"}),
              defaults={"Type": 2}),
    EntityDef("WebhookSubscriptions", "webhooks/WebhookSubscriptions", "ID", "guid",
              M + "Webhooks.WebhookSubscription", WEBHOOK_FIELDS, RW,
              "organization.administration", required=("CallbackURL", "Topic"),
              read_only=frozenset({"ClientID", "UserID"}), defaults={"IsInstant": False}),
    EntityDef("Deleted", "", "Timestamp", "int", M + "Sync.Deleted", DELETED_FIELDS, RO,
              "organization.administration", sync_path="sync/Deleted"),
)

ENTITIES: Mapping[str, EntityDef] = {e.name: e for e in _DEFS}

_PATHS: dict[str, tuple[EntityDef, Mode]] = {}
for _e in _DEFS:
    for _p, _m in ((_e.path, "plain"), (_e.sync_path, "sync"), (_e.bulk_path, "bulk")):
        if _p:
            _PATHS[_p.lower()] = (_e, _m)  # type: ignore[assignment]

_GUID = re.compile(r"^guid'([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12})'$")
_INT = re.compile(r"^(-?\d+)L?$")
_PATH = re.compile(r"^(?P<base>[^()]+?)(?:\((?P<key>[^()]*)\))?(?P<rest>(?:/[^/()]+)*)/?$")


def parse_key(text: str, key_type: str) -> str | int | None:
    """``guid'…'`` → lowercase str; ``123`` / ``123L`` → int; anything else None."""
    text = text.strip()
    if key_type == "guid":
        m = _GUID.match(text)
        return m.group(1).lower() if m else None
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
        key = parse_key(key_text, key_type)
        if key is None:
            return None
    navigation: str | None = None
    if segments:
        if key is None or len(segments) != 1:
            return None
        wanted = segments[0].lower()
        navigation = next((n for n in entity.navigations if n.lower() == wanted), None)
        if navigation is None:
            return None
    return Resolved(entity=entity, mode=mode, key=key, navigation=navigation, count=count)


def nav_entity(entity: EntityDef, navigation: str) -> EntityDef | None:
    """The entity behind a navigation property, None for deferred-only navigations."""
    target = entity.navigations.get(navigation)
    return ENTITIES.get(target) if target else None
