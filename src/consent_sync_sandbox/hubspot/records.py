"""The plain records the contact store hands out: contacts, subscription states, changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from consent_sync_sandbox.hubspot.props import SUBSCRIPTIONS, iso_ms, optout_property

StatusState = Literal["SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"]
ChangeKind = Literal["contact.creation", "contact.propertyChange", "contact.deletion"]

#: Columns a write may set, in the order `Contact` holds them.
COLUMNS = ("email", "firstname", "lastname", "phone", "sms_consent", "phone_consent")


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """One contact's status for one subscription type."""

    subscription_id: int
    status: StatusState
    timestamp_ms: int | None = None
    legal_basis: str | None = None
    legal_basis_explanation: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """One stored contact row."""

    id: int
    email: str | None
    firstname: str | None
    lastname: str | None
    phone: str | None
    sms_consent: str | None
    phone_consent: str | None
    created_ms: int
    modified_ms: int
    unsub_all: bool
    unsub_all_ms: int | None
    archived: bool

    def properties(self, subs: dict[int, SubscriptionState] | None) -> dict[str, str | None]:
        """Every property value as the API shows it (strings or null); derived ones included."""
        props: dict[str, str | None] = {name: getattr(self, name) for name in COLUMNS}
        props["createdate"] = iso_ms(self.created_ms)
        props["lastmodifieddate"] = iso_ms(self.modified_ms)
        props["hs_object_id"] = str(self.id)
        props["hs_email_optout"] = "true" if self.unsub_all else "false"
        if subs is not None:
            for sub in SUBSCRIPTIONS:
                state = subs.get(sub.id)
                props[optout_property(sub.id)] = optout_value(state)
        return props


def optout_value(state: SubscriptionState | None) -> str | None:
    if state is None or state.status == "NOT_SPECIFIED":
        return None
    return "true" if state.status == "UNSUBSCRIBED" else "false"


@dataclass(frozen=True, slots=True)
class ContactChange:
    """Something a webhook subscriber hears about: a creation, deletion or property change."""

    kind: ChangeKind
    object_id: int
    occurred_ms: int
    source: str
    property_name: str | None = None
    property_value: str | None = None


def email_key(email: str | None) -> str | None:
    """The case-insensitive form HubSpot matches emails on."""
    return email.strip().lower() if email else None
