"""What a person (or a rep) does in each sandbox, and what each shows of their marketing email.

The demo acts only through the emulators' "a person acts" endpoints and reads only their
inspection endpoints (docs/sandboxes.md): never the API consent-sync itself calls, so nothing it
does is counted on the API meter, and what it shows is what the system holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from consent_sync_sandbox.hubspot.props import MARKETING_SUBSCRIPTION_ID

#: How the narration names each system.
TITLES = {
    "salesforce": "Salesforce",
    "hubspot": "HubSpot",
    "mailchimp": "Mailchimp",
    "dynamics": "Dynamics",
}


@dataclass(frozen=True)
class EmailView:
    """One person's marketing email as one system holds it."""

    held: bool  # the system holds the person at all
    opted_out: bool  # every record of the person there says "no marketing email"
    opted_in: bool  # an explicit opt-in there (a subscription), not just no objection
    shown: str  # what an admin of that system would see, e.g. "HasOptedOutOfEmail = true"


NOT_HELD = EmailView(held=False, opted_out=False, opted_in=False, shown="(not held)")


class SandboxPeople(Protocol):
    """One emulator's people, through its control endpoints."""

    #: What the person does to unsubscribe there, for the narration ("clicks ...").
    unsubscribe_act: str

    def email(self, client: httpx.Client, email: str) -> EmailView:
        """What the system holds of `email`'s marketing email."""
        ...

    def unsubscribe(self, client: httpx.Client, email: str) -> None:
        """The person unsubscribes from marketing email there."""
        ...


def _found(response: httpx.Response) -> Any:
    """The JSON of an inspection, or None when the system does not hold the person."""
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def _flag(value: object) -> str:
    return "true" if value is True else "false"


class SalesforcePeople:
    """Salesforce Contacts: the Email Opt Out box, which a rep ticks when a person asks."""

    unsubscribe_act = (
        "asks a Salesforce rep to stop marketing email (the rep ticks 'Email Opt Out')"
    )

    def email(self, client: httpx.Client, email: str) -> EmailView:
        records = _found(client.get("/_sandbox/records", params={"email": email})) or []
        live = [r for r in records if not r.get("IsDeleted")]
        if not live:
            return NOT_HELD
        ticked = [r["HasOptedOutOfEmail"] is True for r in live]
        shown = ", ".join(f"HasOptedOutOfEmail = {_flag(t)}" for t in ticked)
        return EmailView(True, all(ticked), False, shown)

    def unsubscribe(self, client: httpx.Client, email: str) -> None:
        self.set_opt_out(client, email, opted_out=True)

    def set_opt_out(self, client: httpx.Client, email: str, *, opted_out: bool) -> None:
        """A rep ticks (or unticks) the person's 'Email Opt Out' box in the Salesforce UI."""
        client.post(
            "/_sandbox/act",
            json={
                "action": "update",
                "email": email,
                "fields": {"HasOptedOutOfEmail": opted_out},
            },
        ).raise_for_status()


class HubSpotPeople:
    """HubSpot contacts: the Marketing Information subscription, and unsubscribe from all."""

    unsubscribe_act = "clicks 'unsubscribe' in a HubSpot marketing email footer"

    def email(self, client: httpx.Client, email: str) -> EmailView:
        contact = _found(client.get("/_sandbox/contacts", params={"email": email}))
        if contact is None or contact.get("archived"):
            return NOT_HELD
        status = contact["subscriptions"].get(str(MARKETING_SUBSCRIPTION_ID), {}).get("status")
        all_email = contact["properties"].get("hs_email_optout") == "true"
        status = status or "NOT_SPECIFIED"
        shown = f"Marketing Information: {status}" + (" (opted out of all)" if all_email else "")
        return EmailView(True, all_email or status == "UNSUBSCRIBED", status == "SUBSCRIBED", shown)

    def unsubscribe(self, client: httpx.Client, email: str) -> None:
        client.post(
            "/_sandbox/act",
            json={
                "action": "unsubscribe",
                "email": email,
                "subscription_id": MARKETING_SUBSCRIPTION_ID,
            },
        ).raise_for_status()


class MailchimpPeople:
    """Mailchimp audience members: their status."""

    unsubscribe_act = "clicks 'unsubscribe' in a Mailchimp campaign email"

    def email(self, client: httpx.Client, email: str) -> EmailView:
        found = _found(client.get("/_sandbox/members", params={"email": email}))
        if found is None:
            return NOT_HELD
        status = found["member"]["status"]
        return EmailView(True, status == "unsubscribed", status == "subscribed", f"status {status}")

    def unsubscribe(self, client: httpx.Client, email: str) -> None:
        client.post(
            "/_sandbox/act",
            json={
                "action": "unsubscribe",
                "email": email,
                "reason": "I no longer want to receive these emails",
            },
        ).raise_for_status()


class DynamicsPeople:
    """Dynamics 365 contacts: "Do not allow Bulk Emails" (donotbulkemail)."""

    unsubscribe_act = "opts out of bulk email in the Dynamics subscription centre"

    def email(self, client: httpx.Client, email: str) -> EmailView:
        contacts = _found(client.get("/_sandbox/contacts", params={"email": email})) or []
        if not contacts:
            return NOT_HELD
        ticked = [c["donotbulkemail"] is True for c in contacts]
        shown = ", ".join(f"donotbulkemail = {_flag(t)}" for t in ticked)
        return EmailView(True, all(ticked), False, shown)

    def unsubscribe(self, client: httpx.Client, email: str) -> None:
        client.post(
            "/_sandbox/act",
            json={"action": "opt_out", "email": email, "channel": "bulk_email"},
        ).raise_for_status()

    def tick_bulk_email_opt_out(self, client: httpx.Client, email: str) -> None:
        """A rep ticks "Do not allow Bulk Emails" on the contact form."""
        client.post(
            "/_sandbox/act",
            json={"action": "edit", "email": email, "fields": {"donotbulkemail": True}},
        ).raise_for_status()


SALESFORCE, HUBSPOT, MAILCHIMP, DYNAMICS = (
    SalesforcePeople(),
    HubSpotPeople(),
    MailchimpPeople(),
    DynamicsPeople(),
)
#: Every system the demo can play, in the order it names them.
PEOPLE: dict[str, SandboxPeople] = {
    "salesforce": SALESFORCE,
    "hubspot": HUBSPOT,
    "mailchimp": MAILCHIMP,
    "dynamics": DYNAMICS,
}
