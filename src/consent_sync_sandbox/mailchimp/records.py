"""Audience members as the store holds them and as the Marketing API shows them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from consent_sync_sandbox.mailchimp.audience import (
    MERGE_FIELDS,
    PERMISSIONS,
    iso_s,
)

#: Member columns, in the order `Member` holds them (the store selects them in this order).
COLUMNS = (
    "id",
    "seq",
    "email",
    "fname",
    "lname",
    "phone",
    "status",
    "email_type",
    "ip_signup",
    "ts_signup",
    "ip_opt",
    "ts_opt",
    "last_changed",
    "unsubscribe_reason",
    "compliance",
    "permissions",
    "source",
    "language",
    "vip",
    "unique_email_id",
    "web_id",
)


_MEMBER_SCHEMA = "Definitions/Lists/Members/Response.json"


def subscriber_hash(email: str) -> str:
    """The member id Mailchimp derives from an address: the MD5 of its lower-cased form."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Member:
    """One audience member row.

    `compliance` is what Mailchimp keeps behind "Member In Compliance State": the person
    unsubscribed themselves, or the address bounced (cleaned); the API may not subscribe them
    again, only the person can (through a signup form). `permissions` is a bitmask of the GDPR
    marketing permissions the member enabled (`audience.PERMISSIONS`).
    """

    id: str
    seq: int
    email: str
    fname: str
    lname: str
    phone: str
    status: str
    email_type: str
    ip_signup: str
    ts_signup: int | None
    ip_opt: str
    ts_opt: int | None
    last_changed: int
    unsubscribe_reason: str | None
    compliance: bool
    permissions: int
    source: str
    language: str
    vip: bool
    unique_email_id: str
    web_id: int

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Member:
        values = dict(zip(COLUMNS, row, strict=True))
        values["compliance"] = bool(values["compliance"])
        values["vip"] = bool(values["vip"])
        return cls(**values)

    def to_json(self, list_id: str, base_url: str, *, gdpr: bool) -> dict[str, Any]:
        """The member as `GET /lists/{list_id}/members/{subscriber_hash}` answers it."""
        merge = {f.tag: getattr(self, f.column) or "" for f in MERGE_FIELDS}
        body: dict[str, Any] = {
            "id": self.id,
            "email_address": self.email,
            "unique_email_id": self.unique_email_id,
            "contact_id": self.unique_email_id + self.id[:22],
            "full_name": " ".join(n for n in (self.fname, self.lname) if n),
            "web_id": self.web_id,
            "email_type": self.email_type,
            "status": self.status,
        }
        if self.status == "unsubscribed" and self.unsubscribe_reason:
            body["unsubscribe_reason"] = self.unsubscribe_reason
        body.update(
            {
                "consents_to_one_to_one_messaging": True,
                "merge_fields": merge,
                "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
                "ip_signup": self.ip_signup,
                "timestamp_signup": iso_s(self.ts_signup),
                "ip_opt": self.ip_opt,
                "timestamp_opt": iso_s(self.ts_opt),
                "member_rating": 2,
                "last_changed": iso_s(self.last_changed),
                "language": self.language,
                "vip": self.vip,
                "email_client": "",
                "location": {
                    "latitude": 0,
                    "longitude": 0,
                    "gmtoff": 0,
                    "dstoff": 0,
                    "country_code": "",
                    "timezone": "",
                    "region": "",
                },
            }
        )
        if gdpr:
            body["marketing_permissions"] = [
                {
                    "marketing_permission_id": p.id,
                    "text": p.text,
                    "enabled": bool(self.permissions & p.bit),
                }
                for p in PERMISSIONS
            ]
        href = f"{base_url}/3.0/lists/{list_id}/members/{self.id}"
        body.update(
            {
                "source": self.source,
                "tags_count": 0,
                "tags": [],
                "list_id": list_id,
                "_links": [
                    {
                        "rel": "self",
                        "href": href,
                        "method": "GET",
                        "targetSchema": f"{base_url}/schema/3.0/{_MEMBER_SCHEMA}",
                    },
                    {
                        "rel": "parent",
                        "href": f"{base_url}/3.0/lists/{list_id}/members",
                        "method": "GET",
                    },
                ],
            }
        )
        return body
