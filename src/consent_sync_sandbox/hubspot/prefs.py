"""Communication Preferences: v3 (definitions, status, subscribe, unsubscribe) and v4 statuses.

Statuses are keyed by email address (`subscriberIdString` in v4). Writing a status for an email
no contact holds creates the contact, as HubSpot does. v3 `subscribe` refuses anyone who opted
out (of that subscription or of all email); v4 `batch/write` may resubscribe them, which also
lifts an opt-out of all email.

Paths, bodies and response shapes follow HubSpot's published OpenAPI document for v4
(github.com/HubSpot/HubSpot-public-api-spec-collection, "Communication Preferences/Subscriptions/
Rollouts/176901/v4/subscriptions.json") and the reference pages under
developers.hubspot.com/docs/api-reference/communication-preferences-subscriptions-v4/.

Unsubscribe from all email (`POST …/statuses/{subscriberIdString}/unsubscribe-all`,
`POST …/statuses/batch/unsubscribe-all`) sets the portal-wide status, which
`GET …/statuses/{subscriberIdString}/unsubscribe-all` and
`POST …/statuses/batch/unsubscribe-all/read` report (`wideStatusType` PORTAL_WIDE), and
`hs_email_optout`. What the individual statuses read as afterwards the docs only imply: the
verbose answer lists "the updated subscription statuses" with `setStatusSuccessReason`
UNSUBSCRIBE_FROM_ALL_OCCURRED, so every subscription type reads UNSUBSCRIBED from then on (the v3
status adds `sourceOfStatus` PORTAL_WIDE_STATUS). That reading is our best guess; the wide status
is reported on its own either way.

Legal basis: v4's schema marks `legalBasis` and `legalBasisExplanation` optional, while the v3
request that carries the same two fields documents both as "required for GDPR enabled portals".
The sandbox portal has GDPR features on by default (`PortalSettings`, `PUT /_sandbox/portal`), so a
SUBSCRIBED without both is refused: a per-input VALIDATION_ERROR in v4 `batch/write` (the rest of
the batch is written, 207), a 400 VALIDATION_ERROR from v3 `subscribe`. HubSpot publishes no
message text for this refusal; ours names the missing fields.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from consent_sync_sandbox.hubspot.crm import batch_error, batch_response
from consent_sync_sandbox.hubspot.errors import HubSpotError
from consent_sync_sandbox.hubspot.garble import Garbles
from consent_sync_sandbox.hubspot.props import (
    LEGAL_BASES,
    SUBSCRIPTION_BY_ID,
    SUBSCRIPTIONS,
    Subscription,
    iso_ms,
    now_iso,
)
from consent_sync_sandbox.hubspot.records import Contact, StatusState, SubscriptionState
from consent_sync_sandbox.hubspot.store import ContactStore

API_SOURCE = "API"
#: v4 `setStatusSuccessReason` values (the documented enum).
Reason = Literal[
    "NO_STATUS_CHANGE",
    "REQUESTED_CHANGE_OCCURRED",
    "RESUBSCRIBE_OCCURRED",
    "UNSUBSCRIBE_FROM_ALL_OCCURRED",
]


class PortalSettings(BaseModel):
    """Account settings of the emulated portal that change what the API accepts."""

    gdpr_enabled: bool = Field(
        True,
        description="GDPR features on: subscribing needs legalBasis and legalBasisExplanation",
    )


def missing_basis(
    settings: PortalSettings, state: str, basis: str | None, explanation: str | None
) -> list[str]:
    """The legal-basis fields a status write lacks (only SUBSCRIBED needs them, with GDPR on)."""
    if state != "SUBSCRIBED" or not settings.gdpr_enabled:
        return []
    fields = (("legalBasis", basis), ("legalBasisExplanation", explanation))
    return [name for name, value in fields if not (value or "").strip()]


def basis_message(email: str, missing: list[str]) -> str:
    """The refusal's message: which fields a GDPR-enabled portal wanted and did not get."""
    return (
        f"Cannot subscribe {email}: this portal has GDPR features enabled, so "
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required with "
        "statusState SUBSCRIBED"
    )


class V3StatusRequest(BaseModel):
    """v3 subscribe/unsubscribe body (PublicUpdateSubscriptionStatusRequest)."""

    emailAddress: str
    subscriptionId: str
    legalBasis: str | None = None
    legalBasisExplanation: str | None = None


class StatusWrite(BaseModel):
    """One input of v4 `statuses/batch/write`."""

    subscriberIdString: str
    subscriptionId: int
    statusState: StatusState
    channel: Literal["EMAIL"] = "EMAIL"
    legalBasis: str | None = None
    legalBasisExplanation: str | None = None


class StatusWriteBatch(BaseModel):
    inputs: list[StatusWrite]


class SubscriberBatch(BaseModel):
    inputs: list[str]


def _definition(sub: Subscription) -> dict[str, Any]:
    stamp = "2020-01-01T00:00:00.000Z"
    return {
        "id": str(sub.id),
        "name": sub.name,
        "description": sub.description,
        "purpose": sub.purpose,
        "communicationMethod": "Email",
        "isActive": True,
        "isDefault": sub.is_default,
        "isInternal": sub.is_internal,
        "createdAt": stamp,
        "updatedAt": stamp,
        "businessUnitId": 0,
    }


def _subscription(raw: str | int) -> Subscription:
    sub = SUBSCRIPTION_BY_ID.get(int(raw)) if str(raw).isdigit() else None
    if sub is None:
        raise HubSpotError(400, f"Subscription {raw} does not exist in this portal")
    return sub


def _legal_basis(raw: str | None) -> str | None:
    if raw is not None and raw not in LEGAL_BASES:
        raise HubSpotError(400, f"Invalid legalBasis {raw!r}; expected one of {list(LEGAL_BASES)}")
    return raw


def prefs_router(
    store: ContactStore, settings: PortalSettings | None = None, garbles: Garbles | None = None
) -> APIRouter:
    """Routes under /communication-preferences; `settings` may change while serving, and
    `garbles` says which v4 statuses to serve as values they cannot be."""
    router = APIRouter()
    portal = settings if settings is not None else PortalSettings()

    def states_of(contact: Contact | None) -> dict[int, SubscriptionState]:
        if contact is None:
            return {}
        return store.subscriptions([contact.id])[contact.id]

    def contact_for(email: str) -> Contact:
        return store.by_email(email) or store.create({"email": email}, API_SOURCE)

    def v4_status(
        email: str, contact: Contact | None, sub: Subscription, state: SubscriptionState | None
    ) -> dict[str, Any]:
        fallback = contact.created_ms if contact else None
        stamp = state.timestamp_ms if state and state.timestamp_ms else fallback
        entry = {
            "subscriberIdString": email,
            "subscriptionId": sub.id,
            "subscriptionName": sub.name,
            "channel": "EMAIL",
            "status": state.status if state else "NOT_SPECIFIED",
            "source": (state.source if state else None) or "",
            "legalBasis": state.legal_basis if state else None,
            "legalBasisExplanation": state.legal_basis_explanation if state else None,
            "timestamp": iso_ms(stamp) if stamp else now_iso(),
            "businessUnitId": 0,
        }
        return garbles.status(email, sub.id, entry) if garbles else entry

    def v4_statuses(email: str, reason: Reason | None = None) -> list[dict[str, Any]]:
        contact = store.by_email(email)
        states = states_of(contact)
        statuses = [v4_status(email, contact, s, states.get(s.id)) for s in SUBSCRIPTIONS]
        if reason is not None:
            for status in statuses:
                status["setStatusSuccessReason"] = reason
        return statuses

    def wide_statuses(email: str) -> list[dict[str, Any]]:
        """PublicWideStatus entries: one PORTAL_WIDE UNSUBSCRIBED while opted out of all email,
        none otherwise ("If a contact has not opted out of all communications, the response
        results array will be empty")."""
        contact = store.by_email(email)
        if contact is None or not contact.unsub_all:
            return []
        stamp = contact.unsub_all_ms or contact.modified_ms
        return [
            {
                "subscriberIdString": email,
                "channel": "EMAIL",
                "status": "UNSUBSCRIBED",
                "wideStatusType": "PORTAL_WIDE",
                "timestamp": iso_ms(stamp),
                "businessUnitId": 0,
            }
        ]

    def unsubscribe_all(email: str) -> Reason:
        contact = contact_for(email)
        if contact.unsub_all:
            return "NO_STATUS_CHANGE"
        store.unsubscribe_all(contact.id, API_SOURCE)
        return "UNSUBSCRIBE_FROM_ALL_OCCURRED"

    def v3_status(contact: Contact | None, sub: Subscription) -> dict[str, Any]:
        state = states_of(contact).get(sub.id)
        opted_out_all = bool(contact and contact.unsub_all)
        subscribed = not opted_out_all and state is not None and state.status == "SUBSCRIBED"
        return {
            "id": str(sub.id),
            "name": sub.name,
            "description": sub.description,
            "status": "SUBSCRIBED" if subscribed else "NOT_SUBSCRIBED",
            "sourceOfStatus": "PORTAL_WIDE_STATUS" if opted_out_all else "SUBSCRIPTION_STATUS",
            "legalBasis": state.legal_basis if state else None,
            "legalBasisExplanation": state.legal_basis_explanation if state else None,
            "preferenceGroupName": None,
            "brandId": 0,
        }

    @router.get("/communication-preferences/v3/definitions")
    def definitions() -> dict[str, Any]:
        return {"subscriptionDefinitions": [_definition(s) for s in SUBSCRIPTIONS]}

    @router.get("/communication-preferences/v3/status/email/{email_address:path}")
    def v3_email_status(email_address: str) -> dict[str, Any]:
        contact = store.by_email(email_address)
        return {
            "recipient": email_address,
            "subscriptionStatuses": [v3_status(contact, s) for s in SUBSCRIPTIONS],
        }

    @router.post("/communication-preferences/v3/subscribe")
    def v3_subscribe(request: V3StatusRequest) -> dict[str, Any]:
        sub = _subscription(request.subscriptionId)
        basis = _legal_basis(request.legalBasis)
        missing = missing_basis(portal, "SUBSCRIBED", basis, request.legalBasisExplanation)
        if missing:
            raise HubSpotError(
                400, basis_message(request.emailAddress, missing), "VALIDATION_ERROR"
            )
        contact = store.by_email(request.emailAddress)
        state = states_of(contact).get(sub.id)
        if contact is not None and (
            contact.unsub_all or (state and state.status == "UNSUBSCRIBED")
        ):
            raise HubSpotError(
                400,
                f"{request.emailAddress} has opted out and cannot be resubscribed through this "
                "API; the contact must resubscribe themselves",
                "VALIDATION_ERROR",
            )
        if state is not None and state.status == "SUBSCRIBED":
            raise HubSpotError(
                400, f"{request.emailAddress} is already subscribed to subscription {sub.id}"
            )
        target = contact or contact_for(request.emailAddress)
        store.set_status(
            target.id,
            sub.id,
            "SUBSCRIBED",
            legal_basis=basis,
            explanation=request.legalBasisExplanation,
            source=API_SOURCE,
        )
        return v3_status(store.get(target.id), sub)

    @router.post("/communication-preferences/v3/unsubscribe")
    def v3_unsubscribe(request: V3StatusRequest) -> dict[str, Any]:
        sub = _subscription(request.subscriptionId)
        basis = _legal_basis(request.legalBasis)
        contact = contact_for(request.emailAddress)
        state = states_of(contact).get(sub.id)
        if contact.unsub_all or (state is not None and state.status == "UNSUBSCRIBED"):
            raise HubSpotError(
                400, f"{request.emailAddress} is already unsubscribed from subscription {sub.id}"
            )
        store.set_status(
            contact.id,
            sub.id,
            "UNSUBSCRIBED",
            legal_basis=basis,
            explanation=request.legalBasisExplanation,
            source=API_SOURCE,
        )
        return v3_status(store.get(contact.id), sub)

    @router.post("/communication-preferences/v4/statuses/batch/unsubscribe-all/read")
    def v4_batch_wide_read(
        request: SubscriberBatch, channel: Literal["EMAIL"] = Query(...)
    ) -> JSONResponse:
        started = now_iso()
        results = [
            {"subscriberIdString": email, "wideStatuses": wide_statuses(email)}
            for email in request.inputs
        ]
        return batch_response(results, [], started)

    @router.post("/communication-preferences/v4/statuses/batch/unsubscribe-all")
    def v4_batch_unsubscribe_all(
        request: SubscriberBatch, channel: Literal["EMAIL"] = Query(...), verbose: bool = False
    ) -> JSONResponse:
        started = now_iso()
        results = []
        for email in request.inputs:
            reason = unsubscribe_all(email)
            statuses = v4_statuses(email, reason) if verbose else []
            results.append({"subscriberIdString": email, "statuses": statuses})
        return batch_response(results, [], started)

    @router.get("/communication-preferences/v4/statuses/{subscriber:path}/unsubscribe-all")
    def v4_wide_status(subscriber: str, channel: Literal["EMAIL"] = Query(...)) -> dict[str, Any]:
        started = now_iso()
        return {
            "status": "COMPLETE",
            "results": wide_statuses(subscriber),
            "startedAt": started,
            "completedAt": now_iso(),
        }

    @router.post("/communication-preferences/v4/statuses/{subscriber:path}/unsubscribe-all")
    def v4_unsubscribe_all(
        subscriber: str, channel: Literal["EMAIL"] = Query(...), verbose: bool = False
    ) -> dict[str, Any]:
        started = now_iso()
        reason = unsubscribe_all(subscriber)
        return {
            "status": "COMPLETE",
            "results": v4_statuses(subscriber, reason) if verbose else [],
            "startedAt": started,
            "completedAt": now_iso(),
        }

    @router.post("/communication-preferences/v4/statuses/batch/read")
    def v4_batch_read(
        request: SubscriberBatch, channel: Literal["EMAIL"] = Query(...)
    ) -> JSONResponse:
        started = now_iso()
        results = [
            {"subscriberIdString": email, "statuses": v4_statuses(email)}
            for email in request.inputs
        ]
        return batch_response(results, [], started)

    @router.post("/communication-preferences/v4/statuses/batch/write")
    def v4_batch_write(request: StatusWriteBatch) -> JSONResponse:
        started = now_iso()
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in request.inputs:
            sub = SUBSCRIPTION_BY_ID.get(item.subscriptionId)
            if sub is None:
                errors.append(
                    batch_error(
                        "VALIDATION_ERROR",
                        f"Subscription {item.subscriptionId} does not exist in this portal",
                        [item.subscriberIdString],
                    )
                )
                continue
            basis = _legal_basis(item.legalBasis)
            missing = missing_basis(portal, item.statusState, basis, item.legalBasisExplanation)
            if missing:
                message = basis_message(item.subscriberIdString, missing)
                errors.append(
                    batch_error(
                        "VALIDATION_ERROR",
                        message,
                        [item.subscriberIdString],
                        errors=[
                            {"message": f"{name} is required", "in": name, "code": "REQUIRED"}
                            for name in missing
                        ],
                    )
                )
                continue
            contact = contact_for(item.subscriberIdString)
            before = states_of(contact).get(sub.id)
            state, changed = store.set_status(
                contact.id,
                sub.id,
                item.statusState,
                legal_basis=basis,
                explanation=item.legalBasisExplanation,
                source=API_SOURCE,
            )
            status = v4_status(item.subscriberIdString, contact, sub, state)
            status["setStatusSuccessReason"] = _reason(before, item.statusState, changed)
            results.append(status)
        return batch_response(results, errors, started)

    @router.get("/communication-preferences/v4/statuses/{subscriber:path}")
    def v4_status_one(subscriber: str, channel: Literal["EMAIL"] = Query(...)) -> dict[str, Any]:
        started = now_iso()
        return {
            "status": "COMPLETE",
            "results": v4_statuses(subscriber),
            "startedAt": started,
            "completedAt": now_iso(),
        }

    return router


def _reason(before: SubscriptionState | None, wanted: str, changed: bool) -> Reason:
    if not changed:
        return "NO_STATUS_CHANGE"
    if wanted == "SUBSCRIBED" and before is not None and before.status == "UNSUBSCRIBED":
        return "RESUBSCRIBE_OCCURRED"
    return "REQUESTED_CHANGE_OCCURRED"
