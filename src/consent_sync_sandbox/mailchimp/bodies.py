"""Member request bodies as the Marketing API takes them, checked and turned into store writes."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from consent_sync_sandbox.mailchimp.audience import (
    MERGE_BY_TAG,
    PERMISSION_BY_ID,
    WRITABLE_STATUSES,
    parse_time,
)
from consent_sync_sandbox.mailchimp.errors import VALIDATION_DETAIL, MailchimpError
from consent_sync_sandbox.mailchimp.rules import StatusChange
from consent_sync_sandbox.mailchimp.store import MemberWrite

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class PermissionInput(BaseModel):
    marketing_permission_id: str
    enabled: bool


class MemberBody(BaseModel):
    """One member as add, update, upsert and batch subscribe take it (unknown keys such as
    `interests`, `tags` or `location` are accepted and not kept)."""

    model_config = ConfigDict(extra="allow")

    email_address: str | None = None
    status: str | None = None
    status_if_new: str | None = None
    email_type: str | None = None
    merge_fields: dict[str, Any] | None = None
    language: str | None = None
    vip: bool | None = None
    ip_signup: str | None = None
    timestamp_signup: str | None = None
    ip_opt: str | None = None
    timestamp_opt: str | None = None
    marketing_permissions: list[PermissionInput] | None = None


class BatchBody(BaseModel):
    """`POST /lists/{list_id}`: batch subscribe or unsubscribe."""

    model_config = ConfigDict(extra="allow")

    members: list[MemberBody]
    update_existing: bool = False
    sync_tags: bool = False


class Invalid(Exception):
    """A member body that cannot be taken, with the field at issue."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def as_error(self) -> MailchimpError:
        errors = [{"field": self.field, "message": self.message}]
        return MailchimpError(400, "Invalid Resource", VALIDATION_DETAIL, errors=errors)


def valid_email(value: str | None) -> str:
    """The address, stripped; `Invalid` if it is not one."""
    email = (value or "").strip()
    if not _EMAIL.match(email):
        raise Invalid("email_address", "Please provide a valid email address.")
    return email


def _time(body: MemberBody, name: str) -> int | None:
    raw = getattr(body, name)
    if raw is None or raw == "":
        return None
    parsed = parse_time(raw)
    if parsed is None:
        raise Invalid(name, "This value is not a valid date and time (ISO 8601).")
    return parsed


def to_write(body: MemberBody, status: str | None, *, gdpr: bool) -> MemberWrite:
    """The store write a member body asks for, with `status` as the status to set (if any)."""
    change = None
    if status is not None:
        if status not in WRITABLE_STATUSES:
            choices = ", ".join(WRITABLE_STATUSES)
            raise Invalid("status", f"Value must be one of: {choices}.")
        change = StatusChange(
            status,
            ip_opt=body.ip_opt,
            ts_opt=_time(body, "timestamp_opt"),
            ip_signup=body.ip_signup,
            ts_signup=_time(body, "timestamp_signup"),
        )
    profile: dict[str, Any] = {}
    for tag, value in (body.merge_fields or {}).items():
        merge = MERGE_BY_TAG.get(tag.upper())
        if merge is None:
            raise Invalid(f"merge_fields.{tag}", f"Merge field {tag} does not exist.")
        profile[merge.column] = "" if value is None else str(value)
    if body.email_type is not None:
        if body.email_type not in ("html", "text"):
            raise Invalid("email_type", "Value must be one of: html, text.")
        profile["email_type"] = body.email_type
    if body.language is not None:
        profile["language"] = body.language
    if body.vip is not None:
        profile["vip"] = int(body.vip)
    permissions: dict[int, bool] = {}
    for item in body.marketing_permissions or ():
        permission = PERMISSION_BY_ID.get(item.marketing_permission_id)
        if permission is None or not gdpr:
            raise Invalid("marketing_permissions", "Invalid marketing permission id.")
        permissions[permission.bit] = item.enabled
    return MemberWrite(change, profile, permissions)
