"""What a status change does to a member, and which ones the API may not make (pure).

Mailchimp keeps a member who unsubscribed themselves (an email's unsubscribe link, the
preferences form) or whose address bounced (`cleaned`) in a *compliance state*: the API cannot
subscribe them again and answers 400 "Member In Compliance State". Only the person can, by
signing up again through a signup form (double opt-in: the API may set such a member `pending`,
which sends the confirmation email; a bounced address cannot even do that). A member an admin
or the API unsubscribed is not in that state and may be subscribed again through the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from consent_sync_sandbox.mailchimp.audience import ADMIN_UNSUBSCRIBE_REASON

#: Who makes a change: the API (an integration, an admin), or the person (a link, a form).
Actor = Literal["api", "person"]


class MemberInCompliance(Exception):
    """The API asked to subscribe a member in a compliance state."""

    def __init__(self, email: str) -> None:
        super().__init__(
            f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review "
            "and cannot be subscribed."
        )


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A requested status and the opt-in details that may come with it."""

    status: str
    ip_opt: str | None = None
    ts_opt: int | None = None
    ip_signup: str | None = None
    ts_signup: int | None = None
    reason: str | None = None  # a person's unsubscribe reason


def refused(status_now: str, compliance: bool, requested: str, actor: Actor) -> bool:
    """Whether Mailchimp refuses this change with "Member In Compliance State"."""
    if actor == "person" or not compliance or requested == status_now:
        return False
    if status_now == "cleaned":
        return requested in ("subscribed", "pending", "transactional")
    # A self-unsubscribed member may still be sent a double opt-in confirmation (`pending`).
    return requested in ("subscribed", "transactional")


def status_columns(
    current: dict[str, Any] | None, change: StatusChange, actor: Actor, now: int
) -> dict[str, Any]:
    """The member columns a status change sets (`current` is None for a new member)."""
    status = change.status
    was = current["status"] if current else None
    columns: dict[str, Any] = {"status": status}
    if status == "subscribed":
        if was != "subscribed" or change.ts_opt is not None:
            columns["ts_opt"] = change.ts_opt if change.ts_opt is not None else now
            columns["ip_opt"] = change.ip_opt or ""
        columns["unsubscribe_reason"] = None
        if actor == "person":
            columns["compliance"] = 0
    elif status == "unsubscribed":
        if was != "unsubscribed":
            reason = change.reason if actor == "person" else ADMIN_UNSUBSCRIBE_REASON
            columns["unsubscribe_reason"] = reason or "N/A"
        if actor == "person":
            columns["compliance"] = 1
    elif status == "cleaned":
        columns["compliance"] = 1
    elif status == "pending" and (was != "pending" or change.ts_signup is not None):
        columns["ts_signup"] = change.ts_signup if change.ts_signup is not None else now
        columns["ip_signup"] = change.ip_signup or ""
    if change.ip_signup is not None and status != "pending":
        columns["ip_signup"] = change.ip_signup
    if change.ts_signup is not None and status != "pending":
        columns["ts_signup"] = change.ts_signup
    return columns
