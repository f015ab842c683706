"""`mappings/<system>.yaml`: which CRM field means which purpose, and how its values read and write.

Each field maps to exactly one purpose through a value table (raw CRM value -> status). Pulling
reads the table forwards; pushing reads it backwards, so every status written must have exactly one
raw value, or an explicit `push_value` choosing among several. These models only validate what the
YAML says; reading and writing through a table is the domain's (`consent_sync.domain.mapping`).
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

#: The statuses of HubSpot Communication Preferences v4, as a subscription field's raw values.
SUBSCRIPTION_STATES = frozenset({"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"})


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


class ObjectMapping(StrictModel):
    """One CRM object type (Contact, Lead, contacts) and its consent fields."""

    match: MatchKeys
    fields: Annotated[dict[CrmName, FieldMapping], Field(min_length=1)]
    unsubscribe_all: UnsubscribeAll | None = None


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
