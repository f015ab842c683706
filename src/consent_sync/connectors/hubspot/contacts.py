"""HubSpot contacts as records: properties typed, subscriptions as fields, what will not parse.

HubSpot returns every property value as a string; values are typed here by the portal's property
definitions (booleans as True/False, empty as None, everything else as text), so mapping value
tables read `true`/`false`/`null` as YAML writes them. Each mapped email subscription appears in
a record as a field of its own (the mapping key) holding the v4 status, with that status's own
timestamp in `field_times` and its legal basis in `field_evidence`; an opt-out of all email reads
as UNSUBSCRIBED on each, at the opt-out's own time, unless the contact later subscribed to that
one type. A status that would not parse is left out and named in `unreadable`; a contact whose
id or `lastmodifieddate` would not parse is a broken record (docs/design.md, "Containment").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent_sync.connectors.hubspot.preferences import (
    ANY_SUBSCRIPTION,
    SubscriptionStatus,
    WideOptOut,
    read_stamp,
)
from consent_sync.domain.records import Record, Unreadable

OBJECT_TYPE = "contacts"
_ID_MAX = 20  # digits: HubSpot's record ids are 64-bit numbers

Statuses = Mapping[str, Mapping[str, SubscriptionStatus | Unreadable]]
WideStatuses = Mapping[str, WideOptOut | Unreadable]


def contact_record(
    result: Any,
    email: str,
    types: Mapping[str, str],
    subs: Mapping[str, str],
    statuses: Statuses,
    wide: WideStatuses,
) -> Record:
    """One SDK contact as a record; `statuses` and `wide` are v4's answers by lower-cased email."""
    record_id, stamp = str(result.id), contact_stamp(result)
    if not (record_id.isascii() and record_id.isdigit() and len(record_id) <= _ID_MAX):
        return Record.broken(OBJECT_TYPE, "", Unreadable.of("id", result.id, "not a record id"))
    if isinstance(stamp, Unreadable):
        return Record.broken(OBJECT_TYPE, record_id, stamp)
    props = {name: typed(types.get(name), raw) for name, raw in contact_properties(result).items()}
    # No answer for the subscriber (no email, or v4 refused it): their statuses are unknown and
    # left out; an answer without a subscription type means NOT_SPECIFIED.
    answered = statuses.get(email.lower()) if email else None
    opt_out = wide.get(email.lower()) if email else None
    field_times: dict[str, datetime] = {}
    evidence: dict[str, Mapping[str, str]] = {}
    unreadable: dict[str, Unreadable] = {}
    for name, sid in subs.items():
        status = answered.get(sid, answered.get(ANY_SUBSCRIPTION)) if answered else None
        if isinstance(status, Unreadable):
            unreadable[name] = status
            continue
        if isinstance(opt_out, Unreadable):  # whether it covers this one is unknown
            unreadable[name] = opt_out
            continue
        if opt_out is not None and not _opted_in_since(status, opt_out):
            props[name] = "UNSUBSCRIBED"
            evidence[name] = opt_out.evidence
            if opt_out.timestamp is not None:
                field_times[name] = opt_out.timestamp
            continue
        if answered is None:
            continue
        if status is None:
            props[name] = "NOT_SPECIFIED"
            continue
        props[name] = status.status
        evidence[name] = status.evidence
        if status.timestamp is not None:
            field_times[name] = status.timestamp
    return Record(
        OBJECT_TYPE,
        record_id,
        props,
        stamp,
        deleted=getattr(result, "archived", False) is True,
        field_times=field_times,
        field_evidence=evidence,
        unreadable=unreadable,
    )


@dataclass(frozen=True, slots=True)
class Listed:
    """A contact of a listing's JSON with the attributes of the SDK's model that the reading
    functions here use (`HubSpotTransport.sdk_json`); anything but an object reads as a contact
    without an id (a broken record, not a broken page)."""

    id: object
    properties: object
    updated_at: object  # the ISO text HubSpot sent; `contact_stamp` parses it

    @classmethod
    def of(cls, raw: object) -> Listed:
        if not isinstance(raw, dict):
            return cls(None, None, None)
        return cls(raw.get("id"), raw.get("properties"), raw.get("updatedAt"))


def next_after(answer: Mapping[str, Any]) -> str | None:
    """The `after` cursor of a listing answer's next page; None on its last page."""
    paging = answer.get("paging")
    following = paging.get("next") if isinstance(paging, dict) else None
    after = following.get("after") if isinstance(following, dict) else None
    return str(after) if after not in (None, "") else None


def contact_stamp(result: Any) -> datetime | Unreadable:
    """A contact's modification stamp: `lastmodifieddate`, else the object's `updatedAt`."""
    raw = contact_properties(result).get("lastmodifieddate") or result.updated_at
    stamp = read_stamp("lastmodifieddate", raw)
    return stamp if stamp is not None else Unreadable.of("lastmodifieddate", raw, "missing")


def contact_properties(result: Any) -> Mapping[str, Any]:
    """A contact's properties; none when HubSpot answered something else in their place."""
    properties = result.properties
    return properties if isinstance(properties, Mapping) else {}


def contact_email(result: Any) -> str:
    """The contact's email as v4 addresses its subscriber; empty when it has none (or no text)."""
    email = contact_properties(result).get("email")
    return email if isinstance(email, str) else ""


def typed(property_type: str | None, raw: Any) -> Any:
    """A property value as the mapping reads it: bool for booleans, None for empty, else text."""
    if raw is None or raw == "":
        return None
    text = str(raw)
    if property_type == "bool" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _opted_in_since(status: SubscriptionStatus | None, opt_out: WideOptOut) -> bool:
    """Whether a subscription's own SUBSCRIBED is strictly later than an opt-out of all email."""
    return (
        status is not None
        and status.status == "SUBSCRIBED"
        and status.timestamp is not None
        and opt_out.timestamp is not None
        and status.timestamp > opt_out.timestamp
    )
