"""Batch subscribe or unsubscribe: `POST /3.0/lists/{list_id}` with up to 500 members.

The request succeeds as a whole (200) and answers per member: `new_members` and
`updated_members` (member objects), `errors` (`email_address`, `error`, `error_code`,
`field`, `field_message`), and `total_created`, `total_updated`, `error_count`. An existing
member is only changed with `update_existing: true` (else `ERROR_CONTACT_EXISTS`); an address
given twice is an error unless `skip_duplicate_check=true` (then the first one counts).
`/_sandbox/faults` per-record failures (`batch_failure_ids` are subscriber hashes) answer
`ERROR_GENERIC` for the members they hit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from consent_sync_sandbox.mailchimp.audience import BATCH_LIMIT
from consent_sync_sandbox.mailchimp.bodies import (
    BatchBody,
    Invalid,
    MemberBody,
    to_write,
    valid_email,
)
from consent_sync_sandbox.mailchimp.context import Audience
from consent_sync_sandbox.mailchimp.errors import VALIDATION_DETAIL, MailchimpError
from consent_sync_sandbox.mailchimp.records import Member, subscriber_hash
from consent_sync_sandbox.mailchimp.rules import MemberInCompliance
from consent_sync_sandbox.mailchimp.store import MemberExists

#: What an injected per-record failure says (a sandbox fault, not a documented Mailchimp text).
INJECTED_FAILURE = "Sandbox: injected per-record failure; the member was not changed."


def _error(email: str, error: str, code: str = "ERROR_GENERIC", field: str = "") -> dict[str, Any]:
    return {
        "email_address": email,
        "error": error,
        "error_code": code,
        "field": field,
        "field_message": "",
    }


def batch_router(audience: Audience) -> APIRouter:
    """The batch subscribe endpoint of the emulated audience."""
    router = APIRouter()

    @router.post("/3.0/lists/{list_id}")
    def batch_subscribe(
        list_id: str,
        body: BatchBody,
        request: Request,
        skip_merge_validation: bool = False,
        skip_duplicate_check: bool = False,
    ) -> dict[str, Any]:
        audience.check(list_id)
        if len(body.members) > BATCH_LIMIT:
            too_many = {
                "field": "members",
                "message": f"Schema describes array, maximum {BATCH_LIMIT} items",
            }
            raise MailchimpError(400, "Invalid Resource", VALIDATION_DETAIL, errors=[too_many])
        created: list[Member] = []
        updated: list[Member] = []
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for item in body.members:
            outcome = _one(audience, item, body.update_existing, seen, skip_duplicate_check)
            if outcome is None:
                continue
            if isinstance(outcome, dict):
                errors.append(outcome)
            elif outcome[1]:
                created.append(outcome[0])
            else:
                updated.append(outcome[0])
        base = str(request.base_url).rstrip("/")
        return {
            "new_members": [audience.member_json(m, request) for m in created],
            "updated_members": [audience.member_json(m, request) for m in updated],
            "errors": errors,
            "total_created": len(created),
            "total_updated": len(updated),
            "error_count": len(errors),
            "_links": [
                {"rel": "self", "href": f"{base}/3.0/lists/{list_id}", "method": "GET"},
                {"rel": "parent", "href": f"{base}/3.0/lists", "method": "GET"},
            ],
        }

    return router


def _one(
    audience: Audience,
    item: MemberBody,
    update_existing: bool,
    seen: set[str],
    skip_duplicate_check: bool,
) -> tuple[Member, bool] | dict[str, Any] | None:
    """Write one batch member: (member, created), its entry in `errors`, or None for a
    duplicate the request asked to skip."""
    raw_email = item.email_address or ""
    try:
        email = valid_email(raw_email)
        if item.status is None:
            raise Invalid("status", "This value should not be blank.")
        change = to_write(item, item.status, gdpr=audience.settings.gdpr)
    except Invalid as exc:
        return _error(raw_email, exc.message, field=exc.field)
    key = subscriber_hash(email)
    if key in seen:
        if skip_duplicate_check:
            return None
        return _error(email, f"{email} was included more than once in this request.")
    seen.add(key)
    if audience.faults.record_fails(key):
        return _error(email, INJECTED_FAILURE)
    try:
        return audience.store.write(email, change, "api", may_update=update_existing)
    except MemberExists:
        return _error(
            email,
            f"{email} is already a list member, do you want to update? please provide "
            "update_existing:true in the request body",
            "ERROR_CONTACT_EXISTS",
        )
    except MemberInCompliance as exc:
        return _error(email, str(exc))
