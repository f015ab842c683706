"""`/_sandbox/*` endpoints only the emulator has: people acting, inspection, garbles, settings.

None of these is counted in `/_sandbox/stats`, needs the API key, or is faulted.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from consent_sync_sandbox.mailchimp.audience import (
    MERGE_BY_TAG,
    PERMISSIONS,
    AudienceSettings,
    now_s,
)
from consent_sync_sandbox.mailchimp.context import Audience
from consent_sync_sandbox.mailchimp.errors import MailchimpError, not_found
from consent_sync_sandbox.mailchimp.garble import Garble
from consent_sync_sandbox.mailchimp.records import Member
from consent_sync_sandbox.mailchimp.rules import StatusChange
from consent_sync_sandbox.mailchimp.store import MemberWrite

#: The IP a person acts from unless the act names one (a documentation address, RFC 5737).
PERSON_IP = "192.0.2.44"


class Act(BaseModel):
    """What a person (or the mail system) does, as `POST /_sandbox/act` takes it.

    - `unsubscribe`: clicks the unsubscribe link in a campaign (optionally picking a `reason`):
      the member becomes `unsubscribed` and enters the compliance state;
    - `signup`: submits the hosted signup form, the only way back for someone who unsubscribed.
      With double opt-in (the audience's setting unless `double_opt_in` says) the member becomes
      `pending` until `confirm`; without it `subscribed` at once, with `timestamp_opt`/`ip_opt`;
    - `confirm`: clicks the link in the double opt-in email: `pending` becomes `subscribed`;
    - `bounce`: the address hard-bounces: the member is `cleaned`;
    - `preferences`: changes GDPR `permissions` on the update-profile form;
    - `archive`: an admin archives the member in the web app.
    """

    action: Literal["unsubscribe", "signup", "confirm", "bounce", "preferences", "archive"]
    email: str
    reason: str | None = Field(None, description="for unsubscribe: the reason picked")
    ip: str = Field(PERSON_IP, description="where the person acts from")
    double_opt_in: bool | None = Field(None, description="for signup; default: the audience's")
    permissions: dict[str, bool] = Field(
        default_factory=dict, description="permission id or text -> enabled (signup, preferences)"
    )
    merge_fields: dict[str, str] = Field(default_factory=dict, description="for signup")


def inspect_view(audience: Audience, member: Member, request: Request) -> dict[str, Any]:
    """Everything about one member: its API view and what the API does not show."""
    return {
        "member": audience.member_json(member, request),
        "compliance": member.compliance,
    }


def control_router(audience: Audience) -> APIRouter:
    """The emulator's own control surface under /_sandbox."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])
    store = audience.store

    def permission_bits(given: dict[str, bool]) -> dict[int, bool]:
        bits: dict[int, bool] = {}
        for key, enabled in given.items():
            match = [p for p in PERMISSIONS if key in (p.id, p.text)]
            if not match:
                raise MailchimpError(400, "Invalid Resource", f"No marketing permission {key!r}.")
            bits[match[0].bit] = enabled
        return bits

    def existing(email: str) -> Member:
        member = store.by_email(email)
        if member is None:
            raise not_found()
        return member

    @router.post("/act")
    def act(request: Request, body: Act) -> dict[str, Any]:
        now = now_s()
        if body.action == "archive":
            member = existing(body.email)
            store.archive(member.id)
        elif body.action == "preferences":
            existing(body.email)
            store.write(
                body.email, MemberWrite(permissions=permission_bits(body.permissions)), "person"
            )
        elif body.action == "unsubscribe":
            existing(body.email)
            change = StatusChange("unsubscribed", reason=body.reason)
            store.write(body.email, MemberWrite(change), "person")
        elif body.action == "bounce":
            existing(body.email)
            store.write(body.email, MemberWrite(StatusChange("cleaned")), "person")
        elif body.action == "confirm":
            member = existing(body.email)
            if member.status != "pending":
                raise MailchimpError(400, "Invalid Resource", "There is no signup to confirm.")
            change = StatusChange("subscribed", ip_opt=body.ip, ts_opt=now)
            store.write(body.email, MemberWrite(change), "person")
        else:
            _signup(audience, body, permission_bits(body.permissions), now)
        return inspect_view(audience, existing(body.email), request)

    @router.get("/members")
    def inspect(request: Request, email: str) -> dict[str, Any]:
        return inspect_view(audience, existing(email), request)

    @router.put("/garble", status_code=204)
    def put_garble(garble: Garble) -> None:
        """Serve some of a member's values as what they cannot be (see `garble.py`)."""
        audience.garbles.set(garble)

    @router.delete("/garble", status_code=204)
    def clear_garbles() -> None:
        audience.garbles.clear()

    @router.get("/audience")
    def get_settings() -> AudienceSettings:
        return audience.settings

    @router.put("/audience")
    def put_settings(update: AudienceSettings) -> AudienceSettings:
        for name in AudienceSettings.model_fields:
            setattr(audience.settings, name, getattr(update, name))
        return audience.settings

    return router


def _signup(audience: Audience, body: Act, permissions: dict[int, bool], now: int) -> None:
    """The hosted signup form: a new member, or one coming back (whatever they said before)."""
    double = audience.settings.double_optin if body.double_opt_in is None else body.double_opt_in
    current = audience.store.by_email(body.email)
    profile = {}
    for tag, value in body.merge_fields.items():
        merge = MERGE_BY_TAG.get(tag.upper())
        if merge is None:
            raise MailchimpError(400, "Invalid Resource", f"Merge field {tag} does not exist.")
        profile[merge.column] = value
    if current is not None and current.status == "subscribed":
        change = None  # already subscribed: the form only updates the profile
    elif double:
        change = StatusChange("pending", ip_signup=body.ip, ts_signup=now)
    else:
        change = StatusChange("subscribed", ip_opt=body.ip, ts_opt=now)
    write = MemberWrite(change, profile, permissions, source="Hosted Signup Form")
    audience.store.write(body.email, write, "person")
