"""Organization models as tables: generic_user (users/Users) and generic_workspace (divisions)."""

from __future__ import annotations

from exact_online_core.mappings.base import (
    READ_OPERATIONS,
    FieldMap,
    Model,
    exact_fields_spec,
    register,
)

USER_FIELDS = exact_fields_spec(
    "Created:d Creator:g CreatorFullName Modified:d Modifier:g ModifierFullName",
    "UserID:g BirthDate:d BirthName Customer:g CustomerName Email EndDate:d FirstName",
    "FullName Gender HasRegisteredForTwoStepVerification:b HasTwoStepVerification:b",
    "Initials IsAnonymised:i Language LastLogin:d LastName MiddleName",
    "Mobile Nationality Notes Phone PhoneExtension ProfileCode StartDate:d",
    "StartDivision:i Title UserName UserTypesList",
)
"""Properties of users/Users (Exact's reference page UsersUsers, via picqer's User model; it
has no Division; UserRoles and UserRolesPerDivision are collections, not columns)."""

DIVISION_FIELDS = exact_fields_spec(
    "Created:d Creator:g CreatorFullName Modified:d Modifier:g ModifierFullName",
    "Code:i AddressLine1 AddressLine2 AddressLine3 ArchiveDate:d BlockingStatus:i",
    "BusinessTypeCode BusinessTypeDescription ChamberOfCommerceEstablishment",
    "ChamberOfCommerceNumber City Class_{01-05}:g CompanySizeCode CompanySizeDescription",
    "Country Currency Current:b Customer:g CustomerCode CustomerName DatevAccountantNumber",
    "DatevClientNumber Description DivisionHRLinkUnlinkDate:d DivisionMoveDate:d Email Fax",
    "Hid IsDossierDivision:b IsHRDivision:b IsMainDivision:b IsPracticeDivision:b",
    "Legislation OBNumber Phone Postcode SbiCode SbiDescription SectorCode",
    "SectorDescription ShareCapital:m SiretNumber StartDate:d State Status:i SubsectorCode",
    "SubsectorDescription TaxOfficeNumber TaxReferenceNumber TemplateCode VATNumber Website",
)
"""Properties of system/Divisions (Exact's reference page and the recorded GET)."""

_NO_WRITES = "Exact Online has no write API for {what}; it can only be read."

GENERIC_USER = register(
    Model(
        name="generic_user",
        model_id="genericUser",
        entity="users/Users",
        key="UserID",
        read_path="users/Users",
        read_kind="modified",
        deleted_type=None,
        operations=READ_OPERATIONS,
        natural_key="user_name",
        scope="organization.administration",
        description="A user of the Exact Online licence.",
        exact_types=USER_FIELDS,
        write_refusal=_NO_WRITES.format(what="users (users/Users is GET only)"),
        fields=(
            FieldMap("first_name", "FirstName", "string", writable=False),
            FieldMap("last_name", "LastName", "string", writable=False),
            FieldMap("email", "Email", "string", writable=False),
            FieldMap("user_name", "UserName", "string", writable=False),
        ),
    )
)

GENERIC_WORKSPACE = register(
    Model(
        name="generic_workspace",
        model_id="genericWorkspace",
        entity="system/Divisions",
        key="Code",
        key_read="int_to_str",
        division_from="Code",
        read_path="system/Divisions",
        read_kind="full",
        deleted_type=None,
        operations=READ_OPERATIONS,
        natural_key=None,
        scope="organization.administration",
        description="An Exact division (administration); id and division are its Code.",
        exact_types=DIVISION_FIELDS,
        write_refusal=_NO_WRITES.format(what="divisions (system/Divisions is GET only)"),
        fields=(
            FieldMap("name", "Description", "string", writable=False),
            FieldMap("currency", "Currency", "string", read="trim", writable=False),
            FieldMap("country", "Country", "string", read="trim", writable=False),
            FieldMap("is_main", "IsMainDivision", "boolean", read="bool", writable=False),
            FieldMap(
                "status", "Status", "string", read="division_status", writable=False,
                description="inactive, active or archived (Exact Status 0, 1, 2).",
            ),
        ),
    )
)
