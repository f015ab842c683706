"""The contact property schema and subscription types the emulated portal has, and value rules.

Custom consent properties (documented in the README):
- `sms_consent`: enumeration with options `opted_in`, `opted_out`, `not_asked`; empty (null) when
  nobody ever recorded anything. Seeded from the person's SMS fact ("Opted In" -> `opted_in`,
  "Opted Out" -> `opted_out`, never asked -> mostly null, sometimes a form's `not_asked`).
- `phone_consent`: boolean (`"true"`/`"false"`), seeded from the person's calls fact: mostly
  empty (never asked), `false` for do-not-call, `true` for the few who said yes.
Shares are in `consent_sync_sandbox.seed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

PropertyType = Literal["string", "number", "datetime", "bool", "enumeration"]

PORTAL_ID = 62515
APP_ID = 1160452


@dataclass(frozen=True, slots=True)
class Subscription:
    """One email subscription type of the portal (Communication Preferences definitions)."""

    id: int
    name: str
    description: str
    purpose: str
    is_default: bool = False
    is_internal: bool = False


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(1001, "Marketing Information", "Marketing offers and updates.", "Marketing", True),
    Subscription(1002, "Product Updates", "News about the product you use.", "Marketing"),
    Subscription(1003, "One to One", "One to one emails.", "Sales", is_internal=True),
)
SUBSCRIPTION_BY_ID = {s.id: s for s in SUBSCRIPTIONS}
#: The subscription the seeded email fact lands on (the others are drawn per person).
MARKETING_SUBSCRIPTION_ID = SUBSCRIPTIONS[0].id

SMS_CONSENT_OPTIONS = ("opted_in", "opted_out", "not_asked")
LEGAL_BASES = (
    "LEGITIMATE_INTEREST_PQL",
    "LEGITIMATE_INTEREST_CLIENT",
    "PERFORMANCE_OF_CONTRACT",
    "CONSENT_WITH_NOTICE",
    "NON_GDPR",
    "PROCESS_AND_STORE",
    "LEGITIMATE_INTEREST_OTHER",
)


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """One contact property as `GET /crm/v3/properties/contacts` describes it."""

    name: str
    label: str
    type: PropertyType
    field_type: str
    group: str = "contactinformation"
    read_only: bool = False
    options: tuple[str, ...] = ()
    description: str = ""
    hubspot_defined: bool = True

    def describe(self, stamp: str) -> dict[str, Any]:
        """HubSpot's property JSON."""
        if self.type == "bool":
            options = [_option("Yes", "true", 0), _option("No", "false", 1)]
        else:
            options = [
                _option(value.replace("_", " ").capitalize(), value, i)
                for i, value in enumerate(self.options)
            ]
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group,
            "options": options,
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.name == "email",
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }


def _option(label: str, value: str, order: int) -> dict[str, Any]:
    return {"label": label, "value": value, "displayOrder": order, "hidden": False}


def optout_property(subscription_id: int) -> str:
    """The read-only per-subscription opt-out property's name."""
    return f"hs_email_optout_{subscription_id}"


PROPERTIES: tuple[PropertyDef, ...] = (
    PropertyDef("email", "Email", "string", "text"),
    PropertyDef("firstname", "First Name", "string", "text"),
    PropertyDef("lastname", "Last Name", "string", "text"),
    PropertyDef("phone", "Phone Number", "string", "phonenumber"),
    PropertyDef("createdate", "Create Date", "datetime", "date", read_only=True),
    PropertyDef("lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
    PropertyDef("hs_object_id", "Record ID", "number", "number", read_only=True),
    PropertyDef(
        "hs_email_optout",
        "Unsubscribed from all email",
        "bool",
        "booleancheckbox",
        group="emailinformation",
        read_only=True,
    ),
    *(
        PropertyDef(
            optout_property(s.id),
            f"Opted out of email: {s.name}",
            "bool",
            "booleancheckbox",
            group="emailinformation",
            read_only=True,
        )
        for s in SUBSCRIPTIONS
    ),
    PropertyDef(
        "sms_consent",
        "SMS consent",
        "enumeration",
        "select",
        options=SMS_CONSENT_OPTIONS,
        description="Consent to marketing text messages.",
        hubspot_defined=False,
    ),
    PropertyDef(
        "phone_consent",
        "Phone consent",
        "bool",
        "booleancheckbox",
        description="Consent to sales and marketing calls.",
        hubspot_defined=False,
    ),
)
PROPERTY_BY_NAME = {p.name: p for p in PROPERTIES}
DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
ALWAYS_RETURNED = ("createdate", "hs_object_id", "lastmodifieddate")
#: Properties stored in a column of their own and writable through the API.
WRITABLE = tuple(p.name for p in PROPERTIES if not p.read_only)


@dataclass(frozen=True, slots=True)
class PropertyIssue:
    """One invalid property value, as HubSpot lists it in a VALIDATION_ERROR message."""

    name: str
    error: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": PORTAL_ID,
        }


def normalize_value(name: str, raw: object) -> tuple[str | None, PropertyIssue | None]:
    """Validate one written value; return it as HubSpot stores it (a string or null)."""
    prop = PROPERTY_BY_NAME.get(name)
    if prop is None:
        return None, PropertyIssue(
            name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
        )
    if prop.read_only:
        return None, PropertyIssue(
            name,
            "READ_ONLY_VALUE",
            f'"{name}" is a read only property; its value cannot be set.',
        )
    if raw is None or raw == "":
        return None, None
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if prop.type == "bool":
        if text.lower() not in ("true", "false"):
            return None, PropertyIssue(
                name, "INVALID_BOOLEAN", f"{text!r} is not a valid boolean value for {name}"
            )
        return text.lower(), None
    if prop.type == "enumeration" and text not in prop.options:
        allowed = ", ".join(prop.options)
        return None, PropertyIssue(
            name,
            "INVALID_OPTION",
            f"{text!r} was not one of the allowed options: [{allowed}]",
        )
    if name == "email" and ("@" not in text or text.startswith("@") or text.endswith("@")):
        return None, PropertyIssue(name, "INVALID_EMAIL", f"Email address {text} is invalid")
    return text, None


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as HubSpot's ISO string, e.g. `2024-05-01T12:00:00.123Z`."""
    moment = datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_datetime_ms(value: str) -> int | None:
    """A search filter's datetime value: epoch milliseconds or an ISO string; None if neither."""
    text = value.strip()
    if text.lstrip("-").isascii() and text.lstrip("-").isdigit():
        return int(text) if len(text) <= 18 else None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def now_iso() -> str:
    return iso_ms(now_ms())
