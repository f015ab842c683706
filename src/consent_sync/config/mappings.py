"""`mappings/<system>.yaml`: which CRM field means which purpose, and how its values read and write.

Each field maps to exactly one purpose through a value table (raw CRM value -> status). Pulling
reads the table forwards; pushing reads it backwards, so every status written must have exactly one
raw value, or an explicit `push_value` choosing among several. These models only validate what the
YAML says; reading and writing through a table is the domain's (`consent_sync.domain.mapping`).

An object of `kind: consent_records` (Salesforce's ContactPointTypeConsent or ContactPointConsent)
lists `consents` instead: each maps one (DataUsePurpose, ContactPointType) to a purpose, and its
`match` and `fields` are derived from them, one field per entry read through
`CONSENT_RECORD_VALUES` (docs/design.md, "Salesforce consent records").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from consent_sync.config.validation import StrictModel, context_of
from consent_sync.domain.mapping import RawValue
from consent_sync.domain.model import Status

Direction = Literal["pull", "push", "both"]
FieldKind = Literal["property", "subscription"]
ObjectKind = Literal["fields", "consent_records"]
#: Salesforce's ContactPointType picklist (the channel a consent record speaks for).
ContactPointType = Literal["Email", "Phone", "MailingAddress", "Social", "Web"]

#: The statuses of HubSpot Communication Preferences v4, as a subscription field's raw values.
SUBSCRIPTION_STATES = frozenset({"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"})

#: What a Salesforce consent record says, as its connector reads it: its PrivacyConsentStatus
#: inside its effective window, `Expired` once its EffectiveTo has passed (an opt-in that lapsed
#: is no consent: a denial, as Salesforce's Consent API answers), `NotYetEffective` before its
#: EffectiveFrom (it says nothing yet). The order matters: pushing writes the first raw value of
#: a status, so a denial is written as `OptOut` and a grant as `OptIn`.
CONSENT_RECORD_VALUES: dict[RawValue, Status] = {
    "OptIn": Status.GRANTED,
    "OptOut": Status.DENIED,
    "Expired": Status.DENIED,
    "NotYetEffective": Status.UNKNOWN,
    "NotSeen": Status.UNKNOWN,
    "Seen": Status.UNKNOWN,
}
#: The field of a consent record holding its person's email: the connector finds it through
#: the record's Individual (PartyId) and that Individual's Contacts and Leads, or through its
#: ContactPointEmail.
CONSENT_EMAIL = "Email"


def _raw_value(value: object) -> RawValue:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise PydanticCustomError(
        "raw_value", "must be true/false, a number, a string or null (quote dates and the like)"
    )


def _status(value: object) -> Status:
    if isinstance(value, str) and value in Status.__members__.values():
        return Status(value)
    raise PydanticCustomError("status", "must be one of granted, not_opted_out, denied, unknown")


def _check_purpose(name: str, info: ValidationInfo) -> str:
    purposes = context_of(info).purposes
    if purposes is not None and name not in purposes:
        raise PydanticCustomError(
            "unknown_purpose", f"{name!r} is not defined in mappings/purposes.yaml"
        )
    return name


def _subscription_ref(value: object) -> object:
    # A subscription id is a number in HubSpot; `subscription: 123` and `"123"` mean the same.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Raw = Annotated[RawValue, PlainValidator(_raw_value)]
StatusValue = Annotated[Status, PlainValidator(_status)]
PurposeRef = Annotated[str, AfterValidator(_check_purpose)]
CrmName = Annotated[str, Field(min_length=1)]


class FieldMapping(StrictModel):
    """One CRM field (or HubSpot subscription) and the purpose it records."""

    purpose: PurposeRef
    values: Annotated[dict[Raw, StatusValue], Field(min_length=1)]
    direction: Direction = "both"
    kind: FieldKind
    subscription: Annotated[str | None, BeforeValidator(_subscription_ref)] = None
    push_value: dict[StatusValue, Raw] | None = None

    @model_validator(mode="before")
    @classmethod
    def _infer_kind(cls, data: Any) -> Any:
        # `kind` defaults to what the entry plainly is: naming a subscription makes it one.
        if isinstance(data, dict) and "kind" not in data:
            return {**data, "kind": "subscription" if "subscription" in data else "property"}
        return data

    @property
    def pulls(self) -> bool:
        return self.direction in ("pull", "both")

    @property
    def pushes(self) -> bool:
        return self.direction in ("push", "both")


class MatchKeys(StrictModel):
    """The record fields identity resolution matches on."""

    email: CrmName
    phone: CrmName | None = None


class UnsubscribeAll(StrictModel):
    """HubSpot's "unsubscribe from all email" (`hs_email_optout`, v4 `unsubscribe-all`).

    It is always read, as a denial of every email subscription the object maps; `push: true`
    also writes a denial of all of them at once as one unsubscribe-all.
    """

    push: bool = False


class ConsentEntry(StrictModel):
    """One (DataUsePurpose, ContactPointType) of a consent-records object and its purpose."""

    data_use_purpose: CrmName
    contact_point_type: ContactPointType = "Email"
    purpose: PurposeRef
    direction: Direction = "both"

    @property
    def field_name(self) -> str:
        """The derived field its records' state is read into, e.g. `Email Marketing/Email`."""
        return f"{self.data_use_purpose}/{self.contact_point_type}"

    def as_field(self) -> FieldMapping:
        """The field this entry reads and writes, through `CONSENT_RECORD_VALUES`."""
        return FieldMapping.model_construct(
            purpose=self.purpose,
            values=dict(CONSENT_RECORD_VALUES),
            direction=self.direction,
            kind="property",
            subscription=None,
            push_value={Status.GRANTED: "OptIn", Status.DENIED: "OptOut"},
        )


def _fields_unless_derived(
    value: dict[str, FieldMapping], info: ValidationInfo
) -> dict[str, FieldMapping]:
    if info.data.get("kind", "fields") == "fields" and not value:
        raise PydanticCustomError("too_short", "must not be empty")
    return value


def _consents_if_records(value: list[ConsentEntry], info: ValidationInfo) -> list[ConsentEntry]:
    if info.data.get("kind") == "consent_records" and not value:
        raise PydanticCustomError("too_short", "must not be empty")
    return value


class ObjectMapping(StrictModel):
    """One CRM object type (Contact, Lead, contacts) and its consent fields, or a Salesforce
    consent-records object whose fields are derived from its `consents`."""

    kind: ObjectKind = "fields"
    match: MatchKeys
    fields: Annotated[dict[CrmName, FieldMapping], AfterValidator(_fields_unless_derived)]
    unsubscribe_all: UnsubscribeAll | None = None
    consents: Annotated[list[ConsentEntry], AfterValidator(_consents_if_records)] = Field(
        default_factory=list, validate_default=True
    )
    #: Whether a revocation written to a Contact or Lead without an Individual creates one, so
    #: the consent record it implies can be created too (consent_records only).
    create_individual: bool = False

    @model_validator(mode="before")
    @classmethod
    def _derived_keys(cls, data: Any) -> Any:
        # A consent-records object finds its people through Individual and reads its consents:
        # `match` and `fields` are derived (mapping_checks refuses them written by hand).
        if isinstance(data, dict) and data.get("kind") == "consent_records":
            return {"match": {"email": CONSENT_EMAIL}, "fields": {}, **data}
        return data

    @model_validator(mode="after")
    def _derive_fields(self) -> ObjectMapping:
        if self.kind != "consent_records":
            return self
        fields = {entry.field_name: entry.as_field() for entry in self.consents}
        match = MatchKeys.model_construct(email=CONSENT_EMAIL, phone=None)
        return self.model_copy(update={"fields": fields, "match": match})

    def consent_entry(self, field_name: str) -> ConsentEntry | None:
        """The consents entry a derived field reads (None for an ordinary field)."""
        return next((e for e in self.consents if e.field_name == field_name), None)


class SystemMapping(StrictModel):
    """The whole of `mappings/<system>.yaml`."""

    system: CrmName
    objects: Annotated[dict[CrmName, ObjectMapping], Field(min_length=1)]

    @property
    def purposes(self) -> frozenset[str]:
        """Every purpose some field of this system records."""
        return frozenset(
            field.purpose for obj in self.objects.values() for field in obj.fields.values()
        )
