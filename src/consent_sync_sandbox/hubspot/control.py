"""`/_sandbox/*` endpoints only the emulator has: people acting, inspection, webhooks, limits.

None of these is counted in `/_sandbox/stats`, needs the token or is rate limited or faulted.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from consent_sync_sandbox.hubspot.crm import record_id, validate_properties
from consent_sync_sandbox.hubspot.errors import HubSpotError
from consent_sync_sandbox.hubspot.garble import Garble, Garbles
from consent_sync_sandbox.hubspot.gate import RateLimiter, RateLimits
from consent_sync_sandbox.hubspot.prefs import PortalSettings
from consent_sync_sandbox.hubspot.props import (
    MARKETING_SUBSCRIPTION_ID,
    SUBSCRIPTION_BY_ID,
    iso_ms,
)
from consent_sync_sandbox.hubspot.records import Contact
from consent_sync_sandbox.hubspot.store import ContactStore, DuplicateEmailError
from consent_sync_sandbox.hubspot.webhooks import WebhookConfig, WebhookSender

#: `changeSource` of what a rep does in the CRM and of a click in an email footer.
UI_SOURCE = "CRM_UI"
EMAIL_SOURCE = "EMAIL"


class Act(BaseModel):
    """What a person does in HubSpot, as `POST /_sandbox/act` takes it.

    - `unsubscribe`: clicks "unsubscribe" in an email footer (one subscription type);
    - `unsubscribe_all`: clicks "unsubscribe from all email": the portal-wide status becomes
      UNSUBSCRIBED, every subscription type UNSUBSCRIBED, `hs_email_optout` true, and
      `lastmodifieddate` moves on (webhooks fire for each changed property);
    - `edit`, `create`, `delete`: a rep changes the contact in the CRM.
    """

    action: Literal["unsubscribe", "unsubscribe_all", "edit", "create", "delete"]
    email: str | None = Field(None, description="the contact, by email")
    id: str | None = Field(None, description="the contact, by record id")
    subscription_id: int = Field(
        MARKETING_SUBSCRIPTION_ID, description="for `unsubscribe`: the footer's subscription"
    )
    properties: dict[str, Any] = Field(default_factory=dict, description="for edit and create")


def contact_view(store: ContactStore, contact: Contact) -> dict[str, Any]:
    """Everything about one contact: every property and every subscription state."""
    states = store.subscriptions([contact.id])[contact.id]
    return {
        "id": str(contact.id),
        "archived": contact.archived,
        "properties": contact.properties(states),
        "subscriptions": {
            str(sub_id): {
                "status": state.status,
                "timestamp": iso_ms(state.timestamp_ms) if state.timestamp_ms else None,
                "legalBasis": state.legal_basis,
                "legalBasisExplanation": state.legal_basis_explanation,
                "source": state.source,
            }
            for sub_id, state in sorted(states.items())
        },
    }


def control_router(
    store: ContactStore,
    sender: WebhookSender,
    limiter: RateLimiter,
    portal: PortalSettings | None = None,
    garbles: Garbles | None = None,
) -> APIRouter:
    """The emulator's own control surface under /_sandbox."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])
    settings = portal if portal is not None else PortalSettings()
    garbled = garbles if garbles is not None else Garbles()

    def find(email: str | None, identifier: str | None) -> Contact:
        contact = None
        parsed = record_id(identifier) if identifier is not None else None
        if parsed is not None:
            contact = store.get(parsed)
        elif email is not None:
            contact = store.by_email(email)
        if contact is None:
            raise HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
        return contact

    @router.post("/act")
    def act(request: Act) -> dict[str, Any]:
        if request.action == "create":
            values = validate_properties({"email": request.email, **request.properties})
            try:
                return contact_view(store, store.create(values, UI_SOURCE))
            except DuplicateEmailError as exc:
                raise HubSpotError(409, str(exc), "CONFLICT") from None
        contact = find(request.email, request.id)
        if request.action == "delete":
            store.archive(contact.id, UI_SOURCE)
        elif request.action == "edit":
            values = validate_properties(request.properties)
            try:
                store.update(contact.id, values, UI_SOURCE)
            except DuplicateEmailError as exc:
                raise HubSpotError(409, str(exc), "CONFLICT") from None
        elif request.action == "unsubscribe":
            if request.subscription_id not in SUBSCRIPTION_BY_ID:
                raise HubSpotError(400, f"Subscription {request.subscription_id} does not exist")
            store.set_status(
                contact.id,
                request.subscription_id,
                "UNSUBSCRIBED",
                legal_basis=None,
                explanation=None,
                source=EMAIL_SOURCE,
            )
        else:
            store.unsubscribe_all(contact.id, EMAIL_SOURCE)
        refreshed = store.get(contact.id, archived=request.action == "delete")
        return contact_view(store, refreshed or contact)

    @router.get("/contacts")
    def inspect(email: str | None = None, id: str | None = None) -> dict[str, Any]:
        return contact_view(store, find(email, id))

    @router.get("/webhooks")
    def webhook_status() -> dict[str, Any]:
        return sender.snapshot()

    @router.put("/webhooks")
    def configure_webhooks(config: WebhookConfig) -> dict[str, Any]:
        sender.configure(config)
        return sender.snapshot()

    @router.delete("/webhooks")
    def stop_webhooks() -> dict[str, Any]:
        sender.configure(None)
        return sender.snapshot()

    @router.get("/portal")
    def get_portal() -> PortalSettings:
        return settings

    @router.put("/portal")
    def put_portal(update: PortalSettings) -> PortalSettings:
        settings.gdpr_enabled = update.gdpr_enabled
        return settings

    @router.put("/garble", status_code=204)
    def put_garble(garble: Garble) -> None:
        """Serve some of a contact's values as what they cannot be (see `garble.py`)."""
        garbled.set(garble)

    @router.delete("/garble", status_code=204)
    def clear_garbles() -> None:
        garbled.clear()

    @router.get("/limits")
    def get_limits() -> RateLimits:
        return limiter.limits

    @router.put("/limits")
    def put_limits(limits: RateLimits) -> RateLimits:
        limiter.set_limits(limits)
        return limiter.limits

    return router
