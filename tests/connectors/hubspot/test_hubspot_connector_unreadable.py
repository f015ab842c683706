"""HubSpot answers that will not parse spoil the one value (or record) they are in: a v4 status
whose timestamp, state or subscription id is malformed leaves that subscription out of the
contact's fields and in its `unreadable`; a contact whose id or `lastmodifieddate` is malformed
is broken. The rest of the page reads as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_sync.domain.records import WHOLE_RECORD
from support.hubspot_portal import Portal, pulled_since

CONTACTS = 40
MARKETING = 1001


@pytest.fixture
def garble(portal: Portal) -> Iterator[Any]:
    """Serve one contact's values as given (until the test ends)."""

    def serve(email: str, values: dict[str, Any], subscription_id: int | None = None) -> None:
        body = {"email": email, "subscription_id": subscription_id, "values": values}
        portal.control.put("/_sandbox/garble", json=body).raise_for_status()

    yield serve
    portal.control.delete("/_sandbox/garble").raise_for_status()


def _by_email(portal: Portal) -> dict[str, Any]:
    records = pulled_since(portal.connector(), None)
    return {r.fields.get("email"): r for r in records if r.readable}


@pytest.mark.parametrize(
    ("values", "part", "reason"),
    [
        ({"timestamp": "2026-13-45"}, "timestamp", "not an ISO 8601 timestamp"),
        ({"timestamp": 1767225600}, "timestamp", "not an ISO 8601 timestamp"),
        ({"status": "MAYBE"}, "status", "not one of SUBSCRIBED, UNSUBSCRIBED, NOT_SPECIFIED"),
        ({"subscriptionId": "marketing"}, "subscriptionId", "not a subscription id"),
    ],
)
def test_a_malformed_status_spoils_that_subscription_only(
    portal: Portal, garble: Any, values: dict[str, Any], part: str, reason: str
) -> None:
    """The contact reads with its properties; its subscription is unreadable, with the value."""
    before = _by_email(portal)
    email = sorted(e for e in before if e)[3]
    garble(email, values, MARKETING)
    after = _by_email(portal)
    record = after[email]
    assert "marketing_email" not in record.fields
    problem = record.unreadable["marketing_email"]
    assert (problem.part, problem.reason) == (part, reason)
    assert "sms_consent" in record.fields  # the rest of the record is read
    others = {e: r for e, r in after.items() if e != email}
    assert all(not r.unreadable for r in others.values())
    assert {e: r.fields for e, r in others.items()} == {
        e: r.fields for e, r in before.items() if e != email
    }


@pytest.mark.parametrize(
    ("values", "part", "reason"),
    [
        ({"lastmodifieddate": "2026-13-45"}, "lastmodifieddate", "not an ISO 8601 timestamp"),
        ({"id": "12a"}, "id", "not a record id"),
    ],
)
def test_a_malformed_id_or_stamp_breaks_the_record_and_not_the_page(
    portal: Portal, garble: Any, values: dict[str, Any], part: str, reason: str
) -> None:
    """Listing and searching both go on past a broken contact; it comes back with no fields."""
    email = sorted(e for e in _by_email(portal) if e)[5]
    garble(email, values)
    connector = portal.connector()
    for since in (None, datetime.now(UTC) - timedelta(days=3650)):  # a listing, then a search
        records = pulled_since(connector, since)
        broken = [r for r in records if not r.readable]
        assert len(broken) == 1
        problem = broken[0].unreadable[WHOLE_RECORD]
        assert (problem.part, problem.reason) == (part, reason)
        assert broken[0].fields == {}
        assert len([r for r in records if r.readable]) == len(records) - 1
