"""The sObjects the org holds: Contact and Lead, and the Data Protection and Privacy objects.

Field names, types, picklist values and writability follow Salesforce's object reference
(docs/sandboxes.md, "Salesforce: the consent data model"). Consent lives per purpose and
channel: Contact.IndividualId / Lead.IndividualId -> Individual; ContactPointTypeConsent
(PartyId -> Individual, DataUsePurposeId -> DataUsePurpose); ContactPointEmail (ParentId ->
Individual) and ContactPointConsent (ContactPointId -> ContactPointEmail) for one address.
"""

from __future__ import annotations

from consent_sync_sandbox.salesforce.schema import FieldSpec, SObjectSpec

#: ContactPointTypeConsent.ContactPointType and CaptureContactPointType values.
CONTACT_POINT_TYPES = ("Email", "MailingAddress", "Phone", "Social", "Web")
PRIVACY_CONSENT_STATUSES = ("NotSeen", "OptIn", "OptOut", "Seen")


def _id(label: str) -> FieldSpec:
    return FieldSpec("Id", label, "id", False, False, False, 18)


def _deleted() -> FieldSpec:
    return FieldSpec("IsDeleted", "Deleted", "boolean", False, False, False)


def _stamps() -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("CreatedDate", "Created Date", "datetime", False, False, False),
        FieldSpec("LastModifiedDate", "Last Modified Date", "datetime", False, False, False),
        FieldSpec("SystemModstamp", "System Modstamp", "datetime", False, False, False),
    )


def _text(name: str, label: str, length: int, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, label, "string", True, True, not required, length, required=required)


def _box(name: str, label: str) -> FieldSpec:
    return FieldSpec(name, label, "boolean", True, True, False)


def _when(name: str, label: str) -> FieldSpec:
    return FieldSpec(name, label, "datetime", True, True, True)


def _picklist(
    name: str, label: str, values: tuple[str, ...], *, required: bool = False
) -> FieldSpec:
    return FieldSpec(
        name, label, "picklist", True, True, not required, 255, values, required=required
    )


def _lookup(
    name: str, label: str, target: str, relationship: str, *, required: bool = False
) -> FieldSpec:
    # Salesforce's describe calls these nillable even where a save requires them.
    return FieldSpec(
        name, label, "reference", True, True, True, 18, (), False, target, relationship, required
    )


def _person_fields() -> tuple[FieldSpec, ...]:
    sms = ("Opted In", "Opted Out")
    return (
        _id("Contact ID"),
        _deleted(),
        _text("FirstName", "First Name", 40),
        _text("LastName", "Last Name", 80, required=True),
        FieldSpec("Email", "Email", "email", True, True, True, 80),
        FieldSpec("Phone", "Business Phone", "phone", True, True, True, 40),
        _box("HasOptedOutOfEmail", "Email Opt Out"),
        _box("DoNotCall", "Do Not Call"),
        _box("HasOptedOutOfFax", "Fax Opt Out"),
        FieldSpec("SMS_Consent__c", "SMS Consent", "picklist", True, True, True, 255, sms, True),
        _lookup("IndividualId", "Individual ID", "Individual", "Individual"),
        *_stamps(),
    )


def _consent_fields() -> tuple[FieldSpec, ...]:
    """What ContactPointTypeConsent and ContactPointConsent both record of one decision."""
    return (
        _lookup("DataUsePurposeId", "Data Use Purpose ID", "DataUsePurpose", "DataUsePurpose"),
        _picklist(
            "PrivacyConsentStatus",
            "Privacy Consent Status",
            PRIVACY_CONSENT_STATUSES,
            required=True,
        ),
        _when("CaptureDate", "Capture Date"),
        _text("CaptureSource", "Capture Source", 255),
        _picklist("CaptureContactPointType", "Capture Contact Point Type", CONTACT_POINT_TYPES),
        _when("EffectiveFrom", "Effective From"),
        _when("EffectiveTo", "Effective To"),
        _when("DoubleConsentCaptureDate", "Double Consent Capture Date"),
    )


CONTACT = SObjectSpec("Contact", "Contact", "Contacts", "003", _person_fields())
LEAD = SObjectSpec("Lead", "Lead", "Leads", "00Q", _person_fields())
INDIVIDUAL = SObjectSpec(
    "Individual",
    "Individual",
    "Individuals",
    "0PK",
    (
        _id("Individual ID"),
        _deleted(),
        _text("FirstName", "First Name", 40),
        _text("LastName", "Last Name", 80, required=True),
        # Compound: FirstName and LastName, kept by the org, never written directly.
        FieldSpec("Name", "Full Name", "string", False, False, False, 121),
        _box("HasOptedOutTracking", "Don't Track"),
        _box("HasOptedOutProfiling", "Don't Profile"),
        _box("HasOptedOutProcessing", "Don't Process"),
        _box("HasOptedOutSolicit", "Don't Solicit"),
        _box("ShouldForget", "Forget this Individual"),
        _box("SendIndividualData", "Export Individual's Data"),
        _box("CanStorePiiElsewhere", "OK to Store PII Data Elsewhere"),
        *_stamps(),
    ),
)
DATA_USE_PURPOSE = SObjectSpec(
    "DataUsePurpose",
    "Data Use Purpose",
    "Data Use Purposes",
    "0ZW",
    (
        _id("Data Use Purpose ID"),
        _deleted(),
        _text("Name", "Name", 255, required=True),
        _text("Description", "Description", 255),
        _box("CanDataSubjectOptOut", "Can Data Subject Opt Out"),
        _box("IsActive", "Is Active"),
        *_stamps(),
    ),
)
CONTACT_POINT_TYPE_CONSENT = SObjectSpec(
    "ContactPointTypeConsent",
    "Contact Point Type Consent",
    "Contact Point Type Consents",
    "0ZY",
    (
        _id("Contact Point Type Consent ID"),
        _deleted(),
        _text("Name", "Name", 255, required=True),
        _lookup("PartyId", "Party ID", "Individual", "Party", required=True),
        _picklist("ContactPointType", "Contact Point Type", CONTACT_POINT_TYPES),
        *_consent_fields(),
        *_stamps(),
    ),
)
CONTACT_POINT_EMAIL = SObjectSpec(
    "ContactPointEmail",
    "Contact Point Email",
    "Contact Point Emails",
    "9PE",
    (
        _id("Contact Point Email ID"),
        _deleted(),
        FieldSpec("EmailAddress", "Email Address", "email", True, True, False, 80, required=True),
        _lookup("ParentId", "Parent ID", "Individual", "Parent", required=True),
        _box("IsPrimary", "Is Primary"),
        *_stamps(),
    ),
)
CONTACT_POINT_CONSENT = SObjectSpec(
    "ContactPointConsent",
    "Contact Point Consent",
    "Contact Point Consents",
    "0ZX",
    (
        _id("Contact Point Consent ID"),
        _deleted(),
        _text("Name", "Name", 255, required=True),
        _lookup(
            "ContactPointId", "Contact Point ID", "ContactPointEmail", "ContactPoint", required=True
        ),
        _lookup("PartyId", "Individual ID", "Individual", "Party"),
        *_consent_fields(),
        *_stamps(),
    ),
)

#: Every sObject type the org serves, by lower-cased name, in the order tables are created.
SOBJECTS: dict[str, SObjectSpec] = {
    spec.name.lower(): spec
    for spec in (
        INDIVIDUAL,
        DATA_USE_PURPOSE,
        CONTACT,
        LEAD,
        CONTACT_POINT_TYPE_CONSENT,
        CONTACT_POINT_EMAIL,
        CONTACT_POINT_CONSENT,
    )
}


def sobject(name: str) -> SObjectSpec | None:
    """The sObject type called `name` (case-insensitive), if the emulator serves it."""
    return SOBJECTS.get(name.lower())


def target(field: FieldSpec) -> SObjectSpec:
    """The sObject type a reference field points at."""
    return SOBJECTS[field.reference_to.lower()]
