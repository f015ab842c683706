"""The one emulated audience (a Mailchimp "list"): its settings, merge fields, GDPR permissions,
and the timestamp format the Marketing API writes.

Mailchimp writes times as ISO 8601 to the second with an explicit offset
(`2015-10-21T15:41:36+00:00`) and an unset time or IP as the empty string `""`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, Field

#: The seeded audience's id, as Mailchimp spells list ids (10 hex characters).
DEFAULT_LIST_ID = "5a4db0c5e1"
LIST_NAME = "Newsletter (consent-sync sandbox)"
LIST_WEB_ID = 302154
#: Members per page when `count` is absent, and the most a page may hold (as documented).
DEFAULT_COUNT = 10
MAX_COUNT = 1000
#: The most members one `POST /lists/{list_id}` may carry (as documented).
BATCH_LIMIT = 500

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
#: What a write may set: `archived` comes only from `DELETE .../members/{hash}`.
WRITABLE_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
#: The unsubscribe reason Mailchimp shows when an admin (or the API) unsubscribed a member.
ADMIN_UNSUBSCRIBE_REASON = "N/A (Unsubscribed by an admin)"


@dataclass(frozen=True, slots=True)
class MergeField:
    """One audience field (`GET /lists/{list_id}/merge-fields`) and the member column holding it."""

    merge_id: int
    tag: str
    name: str
    type: str
    column: str


MERGE_FIELDS: tuple[MergeField, ...] = (
    MergeField(1, "FNAME", "First Name", "text", "fname"),
    MergeField(2, "LNAME", "Last Name", "text", "lname"),
    MergeField(4, "PHONE", "Phone Number", "phone", "phone"),
)
MERGE_BY_TAG = {f.tag: f for f in MERGE_FIELDS}


@dataclass(frozen=True, slots=True)
class MarketingPermission:
    """One GDPR marketing permission of a GDPR-enabled audience (Mailchimp's three defaults)."""

    id: str
    text: str
    bit: int  # where a member's `enabled` flag sits in its permissions bitmask


PERMISSIONS: tuple[MarketingPermission, ...] = (
    MarketingPermission("b7e2a1c9d4", "Email", 1),
    MarketingPermission("3f9c0d5e8a", "Direct Mail", 2),
    MarketingPermission("e41d6b7a20", "Customized Online Advertising", 4),
)
PERMISSION_BY_ID = {p.id: p for p in PERMISSIONS}


class AudienceSettings(BaseModel):
    """What `PUT /_sandbox/audience` changes: GDPR fields on or off, double opt-in, limits."""

    gdpr: bool = Field(True, description="the audience collects GDPR marketing permissions")
    double_optin: bool = Field(True, description="the hosted signup form asks for confirmation")
    max_connections: int = Field(
        10, ge=1, description="simultaneous requests per API key before 429 Too Many Requests"
    )


def now_s() -> int:
    """The current time in whole seconds since the epoch (Mailchimp's resolution)."""
    return int(time.time())


def iso_s(seconds: int | None) -> str:
    """Epoch seconds as Mailchimp writes them, or `""` when unset."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_time(value: str) -> int | None:
    """An ISO 8601 time (`2015-10-21T15:41:36+00:00`, `...Z`, or a bare date) as epoch seconds;
    None if it is not one. A time without an offset is read as UTC."""
    text = value.strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
