"""Where real recorded Exact responses differ from the reference: the recordings win.

The recordings are real request/response pairs made against Exact Online (start.exactonline.fr,
June 2026; NangoHQ/integration-templates, ``integrations/exact-online/tests``). Each entry
below is one fact they show that the reference (``exact-api-reference.json``) does not, with
the reason it is kept. :func:`served` is the reference with these applied: what Exact
actually serves on an endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

from exact_online_reference import EdmType, Endpoint, Property, reference

Kind = Literal["extra_property", "extra_endpoint", "null_on_get", "accepted", "optional"]


@dataclass(frozen=True)
class Difference:
    endpoint: str
    kind: Kind
    reason: str
    property: str | None = None
    type: EdmType | None = None
    method: str | None = None


_G: EdmType = "Guid"
_S: EdmType = "UTF8String"
_D: EdmType = "DateTime"
_INT: EdmType = "Int32"
_RECORDED_NULL = "recorded only as null, so its type is taken from its name"

DIFFERENCES: tuple[Difference, ...] = (
    Difference("crm/Accounts", "extra_property",
               "every recorded GET and POST of crm/Accounts carries it; " + _RECORDED_NULL,
               "ClientGroup", _G),
    Difference("crm/Accounts", "extra_property",
               "every recorded GET and POST of crm/Accounts carries it; " + _RECORDED_NULL,
               "ClientGroupDescription", _S),
    Difference("salesinvoice/SalesInvoices", "extra_property",
               "every recorded GET and POST of salesinvoice/SalesInvoices carries it; "
               + _RECORDED_NULL, "InvoiceStatusInformation", _S),
    Difference("salesorder/SalesOrders", "extra_property",
               "the recorded GET and POST of salesorder/SalesOrders carry it; " + _RECORDED_NULL,
               "ServicePoint", _G),
    *(Difference("documents/Documents", "extra_property",
                 "the recorded POST documents/Documents answer carries it; " + _RECORDED_NULL,
                 name, ptype)
      for name, ptype in (("ActionRegenerateEntryProposal", _INT), ("CostcenterCode", _S),
                          ("CostcenterDescription", _S), ("CostunitCode", _S),
                          ("CostunitDescription", _S), ("EntryStatusDescription", _S))),
    Difference("financialtransaction/Transactions", "extra_endpoint",
               "recorded GETs (financial-transactions, list-financial-transactions) answer it; "
               "the reference lacks the endpoint, so only the recorded properties are known"),
    Difference("users/Users", "extra_endpoint",
               "Exact's reference page UsersUsers (GET only, scope Organization administration) "
               "exists but is missing from the compiled reference; properties from that page "
               "as copied by picqer/exact-php-client User.php"),
    Difference("salesinvoice/SalesInvoices", "accepted",
               "the recorded POST (create-invoice) sent InvoiceDate 2024-08-12 and the invoice "
               "read back has it; the reference lists InvoiceDate as GET only",
               "InvoiceDate", method="POST"),
    Difference("purchaseentry/PurchaseEntryLines", "optional",
               "the recorded POST purchaseentry/PurchaseEntries (create-purchase-invoice) sent "
               "a line without AmountFC and was answered 200; the reference flags it required",
               "AmountFC", method="POST"),
    *(Difference(endpoint, "null_on_get",
                 "recorded GET answers carry it as null although its type is a flag",
                 name)
      for endpoint, names in (
          ("crm/Accounts", ("AddressSource", "DeliveryAdvice", "EnableSalesPaymentLink",
                            "HasWithholdingTaxSales", "IsExtraDuty", "ShowRemarkForSales")),
          ("salesinvoice/SalesInvoices", ("IsExtraDuty",)),
          ("logistics/Items", ("IsSerialNumberItem", "IsTaxableItem", "UseExplosion")),
          ("financial/Journals", ("BankAccountUseSEPA", "BankAccountUseSepaDirectDebit")),
      )
      for name in names),
)

_GET = frozenset({"GET"})

EXTRA_ENDPOINTS: dict[str, tuple[tuple[str, EdmType, bool], ...]] = {
    # name, type, key
    "financialtransaction/Transactions": (
        ("EntryID", _G, True), ("Date", _D, False), ("EntryNumber", "Int32", False),
        ("JournalCode", _S, False), ("JournalDescription", _S, False),
        ("Modified", _D, False), ("Status", "Int16", False), ("Type", "Int32", False),
        ("TypeDescription", _S, False),
    ),
    "users/Users": (
        ("UserID", _G, True), ("BirthDate", _D, False), ("BirthName", _S, False),
        ("Created", _D, False), ("Creator", _G, False), ("CreatorFullName", _S, False),
        ("Customer", _G, False), ("CustomerName", _S, False), ("Email", _S, False),
        ("EndDate", _D, False), ("FirstName", _S, False), ("FullName", _S, False),
        ("Gender", _S, False), ("HasRegisteredForTwoStepVerification", "Boolean", False),
        ("HasTwoStepVerification", "Boolean", False), ("Initials", _S, False),
        ("IsAnonymised", "Byte", False), ("Language", _S, False), ("LastLogin", _D, False),
        ("LastName", _S, False), ("MiddleName", _S, False), ("Mobile", _S, False),
        ("Modified", _D, False), ("Modifier", _G, False), ("ModifierFullName", _S, False),
        ("Nationality", _S, False), ("Notes", _S, False), ("Phone", _S, False),
        ("PhoneExtension", _S, False), ("ProfileCode", _S, False), ("StartDate", _D, False),
        ("StartDivision", "Int32", False), ("Title", _S, False), ("UserName", _S, False),
        ("UserRoles", "Collection", False), ("UserRolesPerDivision", "Collection", False),
        ("UserTypesList", _S, False),
    ),
}


def null_on_get(endpoint: str) -> frozenset[str]:
    """Flag properties (Boolean/Byte) that real GET answers of ``endpoint`` carry as null."""
    return frozenset(d.property for d in DIFFERENCES
                     if d.kind == "null_on_get" and d.endpoint == endpoint and d.property)


def _extra_endpoint(path: str) -> Endpoint:
    props = tuple(
        Property(name=name, type=ptype, methods=_GET, key=key, required=key,
                 of=name if ptype == "Collection" else None)
        for name, ptype, key in EXTRA_ENDPOINTS[path])
    return Endpoint(path=path, methods=_GET, page_size=60, properties=props)


@cache
def served(path: str) -> Endpoint | None:
    """The endpoint as Exact serves it: the reference plus the recorded extra properties, or
    a recorded endpoint the reference lacks. None: Exact has no such endpoint."""
    if path in EXTRA_ENDPOINTS:
        return _extra_endpoint(path)
    base = reference().endpoint(path)
    if base is None:
        return None
    extras = tuple(
        Property(name=d.property, type=d.type, methods=_GET)
        for d in DIFFERENCES
        if d.kind == "extra_property" and d.endpoint == base.path and d.property
        and d.property not in base)
    accepted = {d.property: d.method for d in DIFFERENCES
                if d.kind == "accepted" and d.endpoint == base.path and d.property and d.method}
    optional = {d.property for d in DIFFERENCES
                if d.kind == "optional" and d.endpoint == base.path and d.property}
    if not extras and not accepted and not optional:
        return base
    props = tuple(
        replace(p, methods=p.methods | {accepted[p.name]}) if p.name in accepted
        else replace(p, required=False) if p.name in optional else p
        for p in base.properties)
    return Endpoint(path=base.path, methods=base.methods, page_size=base.page_size,
                    properties=props + extras)


def served_paths() -> tuple[str, ...]:
    """Every endpoint Exact serves: the reference's and the recorded extra ones."""
    return (*reference().endpoints, *EXTRA_ENDPOINTS)


__all__ = ["DIFFERENCES", "EXTRA_ENDPOINTS", "Difference", "null_on_get", "served",
           "served_paths"]
