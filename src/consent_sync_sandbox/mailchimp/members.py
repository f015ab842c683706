"""Audience members: list, read, add, update, upsert, archive (`/3.0/lists/{list_id}/members`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from consent_sync_sandbox.mailchimp.audience import DEFAULT_COUNT, MAX_COUNT, STATUSES, parse_time
from consent_sync_sandbox.mailchimp.bodies import Invalid, MemberBody, to_write, valid_email
from consent_sync_sandbox.mailchimp.context import Audience, member_id
from consent_sync_sandbox.mailchimp.errors import MailchimpError, not_found
from consent_sync_sandbox.mailchimp.records import Member, subscriber_hash
from consent_sync_sandbox.mailchimp.rules import MemberInCompliance
from consent_sync_sandbox.mailchimp.shape import Paths, shape, split
from consent_sync_sandbox.mailchimp.store import (
    MemberExists,
    MemberMissing,
    MemberQuery,
    MemberWrite,
)

PREFIX = "/3.0/lists/{list_id}/members"


def compliance_error(exc: MemberInCompliance) -> MailchimpError:
    """The documented answer to subscribing a member in a compliance state."""
    return MailchimpError(400, "Member In Compliance State", str(exc))


def _time_param(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise Invalid(name, "This value is not a valid date and time (ISO 8601).").as_error()
    return parsed


def members_router(audience: Audience) -> APIRouter:
    """The member endpoints of the emulated audience."""
    router = APIRouter()
    store = audience.store

    def write(
        email: str, change: MemberWrite, *, may_create: bool, may_update: bool
    ) -> tuple[Member, bool]:
        try:
            return store.write(email, change, "api", may_create=may_create, may_update=may_update)
        except MemberInCompliance as exc:
            raise compliance_error(exc) from None
        except MemberExists as exc:
            raise MailchimpError(400, "Member Exists", str(exc)) from None
        except MemberMissing:
            raise not_found() from None

    def checked(body: MemberBody, status: str | None) -> MemberWrite:
        try:
            return to_write(body, status, gdpr=audience.settings.gdpr)
        except Invalid as exc:
            raise exc.as_error() from None

    @router.get(PREFIX)
    def list_members(
        list_id: str,
        request: Request,
        fields: Paths = None,
        exclude_fields: Paths = None,
        count: int = DEFAULT_COUNT,
        offset: int = 0,
        status: str | None = None,
        since_last_changed: str | None = None,
        before_last_changed: str | None = None,
        since_timestamp_opt: str | None = None,
        before_timestamp_opt: str | None = None,
        sort_field: str | None = None,
        sort_dir: str | None = None,
    ) -> dict[str, Any]:
        audience.check(list_id)
        if count < 0 or count > MAX_COUNT:
            raise Invalid("count", f"count must be between 0 and {MAX_COUNT}.").as_error()
        if offset < 0:
            raise Invalid("offset", "offset must not be negative.").as_error()
        if status is not None and status not in STATUSES:
            raise Invalid("status", f"Value must be one of: {', '.join(STATUSES)}.").as_error()
        if sort_field is not None and sort_field not in (
            "timestamp_opt",
            "timestamp_signup",
            "last_changed",
        ):
            raise Invalid(
                "sort_field", "Value must be one of: timestamp_opt, timestamp_signup, last_changed."
            ).as_error()
        if sort_dir is not None and sort_dir.upper() not in ("ASC", "DESC"):
            raise Invalid("sort_dir", "Value must be one of: ASC, DESC.").as_error()
        query = MemberQuery(
            status=status,
            since_last_changed=_time_param("since_last_changed", since_last_changed),
            before_last_changed=_time_param("before_last_changed", before_last_changed),
            since_timestamp_opt=_time_param("since_timestamp_opt", since_timestamp_opt),
            before_timestamp_opt=_time_param("before_timestamp_opt", before_timestamp_opt),
            sort_field=sort_field,
            descending=(sort_dir or "").upper() == "DESC",
        )
        total, members = store.query(query, count, offset)
        base = str(request.base_url).rstrip("/")
        body = {
            "members": [audience.member_json(m, request) for m in members],
            "list_id": list_id,
            "total_items": total,
            "_links": [
                {"rel": "self", "href": f"{base}/3.0/lists/{list_id}/members", "method": "GET"},
                {"rel": "create", "href": f"{base}/3.0/lists/{list_id}/members", "method": "POST"},
            ],
        }
        return shape(body, split(fields), split(exclude_fields))

    @router.get(PREFIX + "/{subscriber_hash}")
    def get_member(
        list_id: str,
        subscriber_hash: str,
        request: Request,
        fields: Paths = None,
        exclude_fields: Paths = None,
    ) -> dict[str, Any]:
        audience.check(list_id)
        member = store.get(member_id(subscriber_hash))
        if member is None:
            raise not_found()
        return shape(audience.member_json(member, request), split(fields), split(exclude_fields))

    @router.post(PREFIX)
    def add_member(list_id: str, body: MemberBody, request: Request) -> dict[str, Any]:
        audience.check(list_id)
        try:
            email = valid_email(body.email_address)
        except Invalid as exc:
            raise exc.as_error() from None
        if body.status is None:
            raise Invalid("status", "This value should not be blank.").as_error()
        member, _ = write(email, checked(body, body.status), may_create=True, may_update=False)
        return audience.member_json(member, request)

    @router.patch(PREFIX + "/{subscriber_hash}")
    def update_member(
        list_id: str, subscriber_hash: str, body: MemberBody, request: Request
    ) -> dict[str, Any]:
        audience.check(list_id)
        current = store.get(member_id(subscriber_hash))
        if current is None:
            raise not_found()
        _same_address(body, current.id)
        member, _ = write(
            current.email, checked(body, body.status), may_create=False, may_update=True
        )
        return audience.member_json(member, request)

    @router.put(PREFIX + "/{subscriber_hash}")
    def set_member(
        list_id: str, subscriber_hash: str, body: MemberBody, request: Request
    ) -> dict[str, Any]:
        audience.check(list_id)
        try:
            email = valid_email(body.email_address)
        except Invalid as exc:
            raise exc.as_error() from None
        _same_address(body, member_id(subscriber_hash))
        current = store.get(member_id(subscriber_hash))
        if current is None:
            status = body.status_if_new or body.status
            if status is None:
                raise Invalid("status_if_new", "This value should not be blank.").as_error()
            member, _ = write(email, checked(body, status), may_create=True, may_update=False)
        else:
            member, _ = write(
                current.email, checked(body, body.status), may_create=False, may_update=True
            )
        return audience.member_json(member, request)

    @router.delete(PREFIX + "/{subscriber_hash}", status_code=204)
    def archive_member(list_id: str, subscriber_hash: str) -> Response:
        audience.check(list_id)
        if not store.archive(member_id(subscriber_hash)):
            raise not_found()
        return Response(status_code=204)

    return router


def _same_address(body: MemberBody, target_id: str) -> None:
    """A body's address must be the one the path names (an address change is not emulated)."""
    if body.email_address and subscriber_hash(body.email_address) != target_id:
        raise Invalid(
            "email_address", "The email address does not match the subscriber hash in the path."
        ).as_error()
