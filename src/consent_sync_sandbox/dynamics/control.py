"""`/_sandbox/*` endpoints only the emulator has: people acting, inspection, limits, garbling.

None of these is counted in `/_sandbox/stats`, needs a token, or is limited or faulted.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from consent_sync_sandbox.dynamics.errors import DataverseError, not_found
from consent_sync_sandbox.dynamics.garble import Garble, Garbles
from consent_sync_sandbox.dynamics.gate import ServiceLimits, ServiceProtection
from consent_sync_sandbox.dynamics.operations import parse_key
from consent_sync_sandbox.dynamics.query import ContactQueries
from consent_sync_sandbox.dynamics.records import record_json, write_values
from consent_sync_sandbox.dynamics.store import ContactStore, Row

#: What a person's opt-out ticks, by channel (a subscription centre or an unsubscribe link).
OPT_OUT_FIELDS: dict[str, dict[str, bool]] = {
    "bulk_email": {"donotbulkemail": True},
    "all_email": {"donotbulkemail": True, "donotemail": True},
    "phone": {"donotphone": True},
    "fax": {"donotfax": True},
    "postal_mail": {"donotpostalmail": True, "donotbulkpostalmail": True},
}


class Act(BaseModel):
    """What happens in Dynamics, as `POST /_sandbox/act` takes it.

    - `edit`: a rep changes fields on the contact form (e.g. ticks `donotbulkemail`);
    - `opt_out`: the person opts out through a subscription centre or unsubscribe link
      (`channel`: bulk_email, all_email, phone, fax, postal_mail);
    - `create`, `delete`: a rep adds or deletes the contact.
    """

    action: Literal["edit", "opt_out", "create", "delete"]
    email: str | None = Field(None, description="the contact, by emailaddress1 (first match)")
    id: str | None = Field(None, description="the contact, by contactid")
    channel: Literal["bulk_email", "all_email", "phone", "fax", "postal_mail"] = "bulk_email"
    fields: dict[str, Any] = Field(default_factory=dict, description="for edit and create")


class OrgSettings(BaseModel):
    """Organisation settings tests can change (`PUT /_sandbox/org`)."""

    expire_change_tracking_in_days: float = Field(7.0, ge=0.0)


def contact_view(row: Row) -> dict[str, Any]:
    """Everything stored about one contact, as the Web API would write it."""
    return record_json(row, None)


def control_router(
    store: ContactStore,
    queries: ContactQueries,
    protection: ServiceProtection,
    garbles: Garbles,
) -> APIRouter:
    """The emulator's own control surface under /_sandbox."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    def find(email: str | None, identifier: str | None) -> Row:
        row: Row | None = None
        if identifier is not None:
            row = store.get(parse_key(identifier))
        elif email is not None:
            matches = store.by_email(email)
            row = matches[0] if matches else None
        if row is None:
            raise not_found(identifier or "(by email)")
        return row

    @router.post("/act")
    def act(request: Act) -> dict[str, Any]:
        if request.action == "create":
            values = write_values({"emailaddress1": request.email, **request.fields})
            return contact_view(store.create(values))
        row = find(request.email, request.id)
        if request.action == "delete":
            store.delete(row["contactid"])
            return contact_view(row)
        fields = OPT_OUT_FIELDS[request.channel] if request.action == "opt_out" else request.fields
        updated = store.update(row["contactid"], write_values(fields))
        if updated is None:
            raise not_found(row["contactid"])
        return contact_view(updated)

    @router.get("/contacts")
    def inspect(email: str | None = None, id: str | None = None) -> list[dict[str, Any]]:
        if id is not None:
            return [contact_view(find(None, id))]
        if email is None:
            raise DataverseError(400, "0x80040203", "Name the contact by email or id.")
        return [contact_view(row) for row in store.by_email(email)]

    @router.put("/garble", status_code=204)
    def put_garble(garble: Garble) -> None:
        """Serve some of a contact's values as what they cannot be (see `garble.py`)."""
        garbles.set(garble)

    @router.delete("/garble", status_code=204)
    def clear_garbles() -> None:
        garbles.clear()

    @router.get("/limits")
    def get_limits() -> ServiceLimits:
        return protection.limits

    @router.put("/limits")
    def put_limits(limits: ServiceLimits) -> ServiceLimits:
        protection.set_limits(limits)
        return protection.limits

    @router.get("/org")
    def get_org() -> OrgSettings:
        return OrgSettings(expire_change_tracking_in_days=queries.expire_days)

    @router.put("/org")
    def put_org(settings: OrgSettings) -> OrgSettings:
        queries.expire_days = settings.expire_change_tracking_in_days
        return settings

    return router
