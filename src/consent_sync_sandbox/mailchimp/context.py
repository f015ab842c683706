"""What every route of the emulated audience shares: its id, members, settings and garbles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from consent_sync_sandbox.common import Faults
from consent_sync_sandbox.mailchimp.audience import AudienceSettings
from consent_sync_sandbox.mailchimp.errors import not_found
from consent_sync_sandbox.mailchimp.garble import Garbles
from consent_sync_sandbox.mailchimp.records import Member, subscriber_hash
from consent_sync_sandbox.mailchimp.store import MemberStore


@dataclass
class Audience:
    """The one audience the emulator holds."""

    list_id: str
    store: MemberStore
    settings: AudienceSettings
    garbles: Garbles
    faults: Faults

    def check(self, list_id: str) -> None:
        """404 Resource Not Found unless `list_id` is this audience."""
        if list_id != self.list_id:
            raise not_found()

    def member_json(self, member: Member, request: Request) -> dict[str, Any]:
        """A member as the API shows it (garbled if asked to be)."""
        base = str(request.base_url).rstrip("/")
        body = member.to_json(self.list_id, base, gdpr=self.settings.gdpr)
        return self.garbles.member(body)


def member_id(identifier: str) -> str:
    """The subscriber hash a path names: the hash itself, or the address it is the hash of."""
    return subscriber_hash(identifier) if "@" in identifier else identifier.lower()
