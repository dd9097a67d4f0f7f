"""Accounting models as tables: catalog items, sales invoices and their lines.

The invoice rules that are logic rather than data (grouping the per-line sync rows, status,
balance) live in ``invoices.py``.
"""

from __future__ import annotations

from exact_online_core.mappings.base import (
    ALL_OPERATIONS,
    AUDIT_SPEC,
    FieldMap,
    Model,
    exact_fields_spec,
    register,
)

ITEM_FIELDS = exact_fields_spec(
    AUDIT_SPEC,
    "ID:g AssembledLeadDays:i AverageCost:m Barcode BatchQuantity:m Class_{01-10} Code",
    "CopyRemarks:i CostPriceCurrency CostPriceNew:m CostPriceStandard:m Description",
    "EndDate:d ExtraDescription FreeBoolField_{01-05}:b FreeDateField_{01-05}:d",
    "FreeNumberField_{01-08}:m FreeTextField_{01-10} GLCosts:g GLCostsCode",
    "GLCostsDescription GLCostsWorkInProgress:g GLCostsWorkInProgressCode",
    "GLCostsWorkInProgressDescription GLRevenue:g GLRevenueCode GLRevenueDescription",
    "GLRevenueWorkInProgress:g GLRevenueWorkInProgressCode GLRevenueWorkInProgressDescription",
    "GLStock:g GLStockCode GLStockDescription GrossWeight:m IsBatchItem:i",
    "IsBatchNumberItem:i IsFractionAllowedItem:b IsMakeItem:i IsNewContract:i",
    "IsOnDemandItem:i IsPackageItem:b IsPurchaseItem:b IsRegistrationCodeItem:i",
    "IsSalesItem:b IsSerialItem:b IsSerialNumberItem:b IsStockItem:b IsSubcontractedItem:b",
    "IsTaxableItem:b IsTime:i IsWebshopItem:i ItemGroup:g ItemGroupCode ItemGroupDescription",
    "NetWeight:m NetWeightUnit Notes Picture PictureName PictureThumbnailUrl PictureUrl",
    "SalesVatCode SalesVatCodeDescription SearchCode SecurityLevel:i StandardSalesPrice:m",
    "StartDate:d StatisticalCode StatisticalNetWeight:m StatisticalUnits:m",
    "StatisticalValue:m Stock:m Unit UnitDescription UnitType UseExplosion:b",
)
"""Every property of logistics/Items, free fields included (recorded GET, picqer's Item)."""

INVOICE_FIELDS = exact_fields_spec(
    AUDIT_SPEC,
    "InvoiceID:g AmountDC:m AmountDiscount:m AmountDiscountExclVat:m AmountFC:m",
    "AmountFCExclVat:m Currency DeliverTo:g DeliverToAddress:g DeliverToContactPerson:g",
    "DeliverToContactPersonFullName DeliverToName Description Discount:m DiscountType:i",
    "Document:g DocumentNumber:i DocumentSubject DueDate:d ExtraDutyAmountFC:m",
    "GAccountAmountFC:m IncotermAddress IncotermCode IncotermVersion:i InvoiceDate:d",
    "InvoiceNumber:i InvoiceStatusInformation InvoiceTo:g InvoiceToContactPerson:g",
    "InvoiceToContactPersonFullName InvoiceToName IsExtraDuty:b Journal JournalDescription",
    "OrderDate:d OrderedBy:g OrderedByContactPerson:g OrderedByContactPersonFullName",
    "OrderedByName OrderNumber:i PaymentCondition PaymentConditionDescription",
    "PaymentReference Remarks SalesChannel:g SalesChannelCode SalesChannelDescription",
    "Salesperson:g SalespersonFullName SelectionCode:g SelectionCodeCode",
    "SelectionCodeDescription ShippingMethod:g ShippingMethodCode ShippingMethodDescription",
    "StarterSalesInvoiceStatus:i StarterSalesInvoiceStatusDescription Status:i",
    "StatusDescription TaxSchedule:g TaxScheduleCode TaxScheduleDescription Type:i",
    "TypeDescription VATAmountDC:m VATAmountFC:m Warehouse:g WithholdingTaxAmountFC:m",
    "WithholdingTaxBaseAmount:m WithholdingTaxPercentage:m YourRef",
)
"""Every property of salesinvoice/SalesInvoices (recorded POST/GET, Exact's reference)."""

LINE_FIELDS = exact_fields_spec(
    "Division:i",
    "ID:g AmountDC:m AmountFC:m CostCenter CostCenterDescription CostUnit",
    "CostUnitDescription CustomerItemCode DeliveryDate:d Description Discount:m Employee:g",
    "EmployeeFullName EndTime:d ExtraDutyAmountFC:m ExtraDutyPercentage:m GLAccount:g",
    "GLAccountDescription InvoiceID:g Item:g ItemCode ItemDescription LineNumber:i",
    "NetPrice:m Notes Pricelist:g PricelistDescription Project:g ProjectDescription",
    "ProjectWBS:g ProjectWBSDescription Quantity:m SalesOrder:g SalesOrderLine:g",
    "SalesOrderLineNumber:i SalesOrderNumber:i StartTime:d Subscription:g",
    "SubscriptionDescription TaxSchedule:g TaxScheduleCode TaxScheduleDescription UnitCode",
    "UnitDescription UnitPrice:m VATAmountDC:m VATAmountFC:m VATCode VATCodeDescription",
    "VATPercentage:m",
    # on the sync rows, which are lines, these are the line's own audit fields
    "Created:d Modified:d",
)
"""Every property of salesinvoice/SalesInvoiceLines (recorded $expand, Exact's reference)."""

ACCOUNTING_INVOICE_ITEM = register(
    Model(
        name="accounting_invoice_item",
        model_id="accountingInvoiceItem",
        entity="logistics/Items",
        key="ID",
        read_path="sync/Logistics/Items",
        read_kind="sync",
        deleted_type=9,
        operations=ALL_OPERATIONS,
        natural_key="code",
        scope="logistics.items",
        description="A catalog product or service that invoice lines refer to (Exact item).",
        exact_types=ITEM_FIELDS,
        sync_unserved=("StandardSalesPrice",),
        fields=(
            FieldMap("name", "Description", "string", required_on_create=True),
            FieldMap("description", "ExtraDescription", "string"),
            FieldMap("code", "Code", "string", read="trim", required_on_create=True),
            FieldMap(
                "price", "StandardSalesPrice", "number", read="decimal", write="decimal",
                description="Standard sales price. Exact serves it on logistics/Items and "
                "bulk/Logistics/Items but not on sync/Logistics/Items, so incremental reads "
                "take it from bulk/Logistics/Items (by ID, or all at once on a first sync); "
                "it is written as the item's sales price (logistics/SalesItemPrices).",
            ),
            FieldMap(
                "currency", None, "string", read="context", write=None, writable=False,
                description="The division's currency: Exact keeps item prices in it.",
            ),
            FieldMap("unit", "Unit", "string", read="trim", write="trim"),
            FieldMap("is_sales_item", "IsSalesItem", "boolean", read="bool", write="bool"),
        ),
    )
)

ACCOUNTING_INVOICE_LINE_ITEM = register(
    Model(
        name="accounting_invoice_line_item",
        model_id="accountingInvoiceLineItem",
        entity="salesinvoice/SalesInvoiceLines",
        key="ID",
        read_path="sync/SalesInvoice/SalesInvoices",
        read_kind="sync",
        deleted_type=13,
        operations=frozenset({"list", "retrieve", "create", "update", "delete"}),
        natural_key=None,
        scope="sales.invoices",
        description="One line of a sales invoice; writable only while the invoice is editable.",
        exact_types=LINE_FIELDS,
        write_refusal="Lines are listed through their invoice (one sync row per line).",
        fields=(
            FieldMap(
                "invoice_id", "InvoiceID", "string", read="guid", write="guid",
                required_on_create=True, create_only=True,
            ),
            FieldMap("item_id", "Item", "string", read="guid", write="guid",
                     required_on_create=True),
            FieldMap("line_number", "LineNumber", "integer", read="integer", writable=False),
            FieldMap("description", "Description", "string"),
            FieldMap("quantity", "Quantity", "number", read="decimal", write="decimal"),
            FieldMap("price_per_unit", "NetPrice", "number", read="decimal", write="decimal"),
            FieldMap("tax_amount", "VATAmountFC", "number", read="decimal", writable=False),
            FieldMap(
                "total_amount", "AmountFC", "number", read="decimal", writable=False,
                description="Line amount excluding VAT, in the invoice currency.",
            ),
            FieldMap("vat_code", "VATCode", "string", read="trim", write="trim"),
        ),
    )
)

_LINE_SELECT = ("ID", "InvoiceID", "LineNumber", "Item", "Description", "Quantity", "NetPrice",
                "AmountFC", "VATAmountFC", "VATCode")

ACCOUNTING_INVOICE = register(
    Model(
        name="accounting_invoice",
        model_id="accountingInvoice",
        entity="salesinvoice/SalesInvoices",
        key="InvoiceID",
        read_path="sync/SalesInvoice/SalesInvoices",
        read_kind="sync",
        deleted_type=13,
        operations=ALL_OPERATIONS,
        natural_key=None,
        scope="sales.invoices",
        description="A sales invoice or credit note with its lines.",
        exact_types=INVOICE_FIELDS,
        sync_select=_LINE_SELECT,
        fields=(
            FieldMap(
                "invoice_code", "InvoiceNumber", "string", read="int_to_str", writable=False,
                description="Exact's invoice number; null until Exact assigns it.",
            ),
            FieldMap("type", "Type", "string", read="invoice_type", write="invoice_type",
                     create_only=True, description="invoice or credit_note."),
            FieldMap(
                "status", "Status", "string", read="computed", writable=False,
                select=("Status", "DueDate"),
                description="draft, pending, paid or overdue (void is reserved).",
            ),
            FieldMap("currency", "Currency", "string", read="trim"),
            FieldMap("pre_tax_amount", "AmountFCExclVat", "number", read="decimal",
                     writable=False),
            FieldMap("tax_amount", "VATAmountFC", "number", read="decimal", writable=False),
            FieldMap("total_amount", "AmountFC", "number", read="decimal", writable=False),
            FieldMap("inclusive_of_tax", None, "boolean", read="computed", writable=False,
                     description="Always false: Exact line prices are net."),
            FieldMap("balance", None, "number", read="computed", writable=False,
                     description="Amount still outstanding (from Exact's receivables)."),
            FieldMap("paid_at", None, "date-time", read="computed", writable=False),
            FieldMap(
                "customer_company_id", "InvoiceTo", "string", read="guid", write="guid",
                create_exact="OrderedBy", required_on_create=True,
                description="The generic_company invoiced (sent as OrderedBy on create).",
            ),
            FieldMap("customer_contact_id", "InvoiceToContactPerson", "string", read="guid",
                     write="guid"),
            FieldMap(
                "issued_at", "InvoiceDate", "date-time", read="exact_date", write="date_out",
                create_only=True,
                description="Set on create; Exact takes no InvoiceDate in a PUT (its "
                "reference lists it read-only; the recorded POST shows it taken on create).",
            ),
            FieldMap("due_at", "DueDate", "date-time", read="exact_date", write="date_out"),
            FieldMap("note", "Remarks", "string"),
            FieldMap("description", "Description", "string"),
            FieldMap("journal", "Journal", "string", read="trim", write="trim"),
            FieldMap(
                "line_items", "SalesInvoiceLines", "array", read="computed", write=None,
                nested="accounting_invoice_line_item", nested_parent="invoice_id",
                create_only=True,
                description="The invoice's full current set of lines.",
            ),
        ),
    )
)
