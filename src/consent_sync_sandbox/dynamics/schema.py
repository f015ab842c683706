"""The contact table's columns as Dataverse defines them, and its EntityDefinitions answers.

Logical names, types and writability follow Microsoft's Contact table reference; the emulator
holds the columns a consent integration reads or writes (the real table has hundreds more).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

AttributeType = Literal[
    "Uniqueidentifier", "String", "Boolean", "DateTime", "BigInt", "State", "Status", "Memo"
]

#: Fixed ids so that describe answers are stable between runs.
_NAMESPACE = uuid.UUID("7d4a6f4e-1c0b-4c9e-9d3c-5b0c1d2e3f40")
ENTITY_METADATA_ID = "608861bc-50a4-4c5f-a02c-21fe1943e2cf"  # the contact table's MetadataId


@dataclass(frozen=True, slots=True)
class Attribute:
    """One column of `contact`: its logical name, type and whether the API may write it."""

    logical_name: str
    schema_name: str
    type: AttributeType
    display_name: str
    writable: bool = True
    max_length: int | None = None

    @property
    def metadata_id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, self.logical_name))

    def definition(self) -> dict[str, Any]:
        """This column as `EntityDefinitions(...)/Attributes` lists it (the common properties)."""
        label = {"Label": self.display_name, "LanguageCode": 1033}
        body: dict[str, Any] = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{_METADATA_TYPE[self.type]}",
            "MetadataId": self.metadata_id,
            "LogicalName": self.logical_name,
            "SchemaName": self.schema_name,
            "EntityLogicalName": "contact",
            "AttributeType": self.type,
            "AttributeTypeName": {"Value": f"{self.type}Type"},
            "DisplayName": {"LocalizedLabels": [label], "UserLocalizedLabel": label},
            "IsValidForRead": True,
            "IsValidForCreate": self.writable,
            "IsValidForUpdate": self.writable,
            "IsPrimaryId": self.logical_name == "contactid",
            "IsPrimaryName": self.logical_name == "fullname",
            "IsCustomAttribute": False,
            "RequiredLevel": {"Value": "None"},
        }
        if self.max_length is not None:
            body["MaxLength"] = self.max_length
        return body


_METADATA_TYPE = {
    "Uniqueidentifier": "UniqueIdentifierAttributeMetadata",
    "String": "StringAttributeMetadata",
    "Memo": "MemoAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata",
    "DateTime": "DateTimeAttributeMetadata",
    "BigInt": "BigIntAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
}

#: The consent checkboxes (Boolean; true = "Do Not Allow"; default false = no objection).
OPT_OUT_FLAGS = (
    "donotbulkemail",
    "donotemail",
    "donotphone",
    "donotfax",
    "donotpostalmail",
    "donotbulkpostalmail",
    "donotsendmm",
)

ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("contactid", "ContactId", "Uniqueidentifier", "Contact", writable=False),
    Attribute("firstname", "FirstName", "String", "First Name", max_length=50),
    Attribute("lastname", "LastName", "String", "Last Name", max_length=50),
    Attribute("fullname", "FullName", "String", "Full Name", writable=False, max_length=160),
    Attribute("emailaddress1", "EMailAddress1", "String", "Email", max_length=100),
    Attribute("emailaddress2", "EMailAddress2", "String", "Email Address 2", max_length=100),
    Attribute("telephone1", "Telephone1", "String", "Business Phone", max_length=50),
    Attribute("mobilephone", "MobilePhone", "String", "Mobile Phone", max_length=50),
    Attribute("donotbulkemail", "DoNotBulkEMail", "Boolean", "Do not allow Bulk Emails"),
    Attribute("donotemail", "DoNotEMail", "Boolean", "Do not allow Emails"),
    Attribute("donotphone", "DoNotPhone", "Boolean", "Do not allow Phone Calls"),
    Attribute("donotfax", "DoNotFax", "Boolean", "Do not allow Faxes"),
    Attribute("donotpostalmail", "DoNotPostalMail", "Boolean", "Do not allow Mails"),
    Attribute("donotbulkpostalmail", "DoNotBulkPostalMail", "Boolean", "Do not allow Bulk Mails"),
    Attribute("donotsendmm", "DoNotSendMM", "Boolean", "Send Marketing Materials"),
    Attribute("description", "Description", "Memo", "Description", max_length=2000),
    Attribute("statecode", "StateCode", "State", "Status"),
    Attribute("statuscode", "StatusCode", "Status", "Status Reason"),
    Attribute("createdon", "CreatedOn", "DateTime", "Created On", writable=False),
    Attribute("modifiedon", "ModifiedOn", "DateTime", "Modified On", writable=False),
    Attribute("versionnumber", "VersionNumber", "BigInt", "Version Number", writable=False),
)
ATTRIBUTE_BY_NAME = {a.logical_name: a for a in ATTRIBUTES}
WRITABLE = frozenset(a.logical_name for a in ATTRIBUTES if a.writable)
#: Valid `statecode` values (Active, Inactive) and the `statuscode` each allows.
STATE_STATUS = {0: (1,), 1: (2,)}


def entity_definition(api_root: str) -> dict[str, Any]:
    """`EntityDefinitions(LogicalName='contact')`: the table's own definition."""
    label = {"Label": "Contact", "LanguageCode": 1033}
    return {
        "@odata.context": f"{api_root}/$metadata#EntityDefinitions/$entity",
        "MetadataId": ENTITY_METADATA_ID,
        "LogicalName": "contact",
        "SchemaName": "Contact",
        "EntitySetName": "contacts",
        "LogicalCollectionName": "contacts",
        "PrimaryIdAttribute": "contactid",
        "PrimaryNameAttribute": "fullname",
        "ObjectTypeCode": 2,
        "OwnershipType": "UserOwned",
        "ChangeTrackingEnabled": True,
        "IsCustomEntity": False,
        "DisplayName": {"LocalizedLabels": [label], "UserLocalizedLabel": label},
    }
