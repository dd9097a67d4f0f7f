"""CRM models as tables: generic_contact (crm/Contacts) and generic_company (crm/Accounts)."""

from __future__ import annotations

from exact_online_core.mappings.base import (
    ALL_OPERATIONS,
    AUDIT_SPEC,
    FieldMap,
    Model,
    exact_fields_spec,
    register,
)

ACCOUNT_FIELDS = exact_fields_spec(
    AUDIT_SPEC,
    "ID:g Accountant:g AccountManager:g AccountManagerFullName AccountManagerHID:i",
    "ActivitySector:g ActivitySubSector:g AddressLine1 AddressLine2 AddressLine3 AddressSource",
    "AutomaticProcessProposedEntry:i Blocked:b BRIN:g BSN BusinessType:g CanDropShip:b",
    "ChamberOfCommerce City Classification:g Classification{1-8}:g ClassificationDescription",
    "ClientGroup:g ClientGroupDescription Code CodeAtSupplier CompanySize:g",
    "ConsolidationScenario:i ControlledDate:d Costcenter CostcenterDescription CostPaid:i",
    "Country CountryName CreditLinePurchase:m CreditLineSales:m Currency CustomerSince:d",
    "DatevCreditorCode DatevDebtorCode DeliveryAdvice:i DiscountPurchase:m DiscountSales:m",
    "Document:g DunsNumber Email EnableSalesPaymentLink:b EndDate:d EORINumber",
    "EstablishedDate:d Fax GLAccountPurchase:g GLAccountSales:g GLAP:g GLAR:g GlnNumber",
    "HasWithholdingTaxSales:b IgnoreDatevWarningMessage:b IncotermAddressPurchase",
    "IncotermCodePurchase IncotermVersionPurchase:i IncotermAddressSales IncotermCodeSales",
    "IncotermVersionSales:i IntraStatArea IntraStatDeliveryTerm IntraStatSystem",
    "IntraStatTransactionA IntraStatTransactionB IntraStatTransportMethod InvoiceAccount:g",
    "InvoiceAccountCode InvoiceAccountName InvoiceAttachmentType:i InvoicingMethod:i",
    "IsAccountant:i IsAgency:i IsAnonymised:i IsBank:b IsCompetitor:i IsExtraDuty:b",
    "IsMailing:i IsMember:b IsPilot:b IsPurchase:b IsReseller:b IsSales:b IsSupplier:b",
    "Language LanguageDescription Latitude:m LeadPurpose:g LeadSource:g Logo LogoFileName",
    "LogoThumbnailUrl LogoUrl Longitude:m MainContact:g Name OINNumber Parent:g",
    "PayAsYouEarn PaymentConditionPurchase PaymentConditionPurchaseDescription",
    "PaymentConditionSales PaymentConditionSalesDescription PeppolIdentifier",
    "PeppolIdentifierType:i Phone PhoneExtension Postcode PriceList:g PurchaseCurrency",
    "PurchaseCurrencyDescription PurchaseLeadDays:i PurchaseVATCode PurchaseVATCodeDescription",
    "RecepientOfCommissions:b Remarks Reseller:g ResellerCode ResellerName RSIN",
    "SalesCurrency SalesCurrencyDescription SalesTaxSchedule:g SalesTaxScheduleCode",
    "SalesTaxScheduleDescription SalesVATCode SalesVATCodeDescription SearchCode",
    "SecurityLevel:i SeparateInvPerProject:i SeparateInvPerSubscription:i ShippingLeadDays:i",
    "ShippingMethod:g ShowRemarkForSales:b Source:i StartDate:d State StateName Status",
    "StatusSince:d TradeName Type UniqueTaxpayerReference VATLiability VATNumber Website",
)
"""Every property of crm/Accounts (Exact's reference page and the recorded GET/POST)."""

CONTACT_FIELDS = exact_fields_spec(
    AUDIT_SPEC,
    "ID:g Account:g AccountIsCustomer:b AccountIsSupplier:b AccountMainContact:g AccountName",
    "AddressLine2 AddressStreet AddressStreetNumber AddressStreetNumberSuffix AllowMailing:i",
    "BirthDate:d BirthName BirthNamePrefix BirthPlace BusinessEmail BusinessFax",
    "BusinessMobile BusinessPhone BusinessPhoneExtension City Code Country Email EndDate:d",
    "FirstName FullName Gender HID:i IdentificationDate:d IdentificationDocument:g",
    "IdentificationUser:g Initials IsAnonymised:i IsMailingExcluded:b IsMainContact:b",
    "JobTitleDescription Language LastName LeadPurpose:g LeadSource:g MarketingNotes",
    "MiddleName Mobile Nationality Notes PartnerName PartnerNamePrefix Person:g Phone",
    "PhoneExtension Picture PictureName PictureThumbnailUrl PictureUrl Postcode",
    "SocialSecurityNumber StartDate:d State Title TitleAbbreviation TitleDescription",
)
"""Every property of crm/Contacts (Exact's reference page and the recorded GET)."""

GENERIC_CONTACT = register(
    Model(
        name="generic_contact",
        model_id="genericContact",
        entity="crm/Contacts",
        key="ID",
        read_path="sync/CRM/Contacts",
        read_kind="sync",
        deleted_type=5,
        operations=ALL_OPERATIONS,
        natural_key=None,
        scope="crm.accounts",
        description="A person at a customer or supplier (Exact contact).",
        exact_types=CONTACT_FIELDS,
        fields=(
            FieldMap("first_name", "FirstName", "string"),
            FieldMap("last_name", "LastName", "string"),
            FieldMap("email", "Email", "string"),
            FieldMap("phone", "Phone", "string"),
            FieldMap(
                "company_id", "Account", "string", read="guid", write="guid",
                required_on_create=True,
                description="The generic_company the contact belongs to (Exact requires it).",
            ),
        ),
    )
)

GENERIC_COMPANY = register(
    Model(
        name="generic_company",
        model_id="genericCompany",
        entity="crm/Accounts",
        key="ID",
        read_path="sync/CRM/Accounts",
        read_kind="sync",
        deleted_type=2,
        operations=ALL_OPERATIONS,
        natural_key="code",
        scope="crm.accounts",
        description="A customer, supplier or prospect (Exact account).",
        exact_types=ACCOUNT_FIELDS,
        fields=(
            FieldMap("name", "Name", "string", required_on_create=True),
            FieldMap(
                "code", "Code", "string", read="trim",
                description="Exact's account code without its 18-character padding; "
                "Exact assigns the next one when omitted on create.",
            ),
            FieldMap("email", "Email", "string"),
            FieldMap("phone", "Phone", "string"),
            FieldMap("website", "Website", "string"),
            FieldMap("vat_number", "VATNumber", "string"),
            FieldMap(
                "country", "Country", "string", read="trim", write="trim",
                description="ISO 3166-1 alpha-2 country code.",
            ),
        ),
    )
)
