"""Incremental pulls past HubSpot's 10,000-results-per-search cap."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

from consent_sync.connectors.hubspot.connector import SEARCH_CAP, SEARCH_LIMIT, HubSpotConnector
from consent_sync.domain.records import Page
from support.hubspot_portal import Portal

PAST_THE_CAP = 10_500
CONTACTS = PAST_THE_CAP  # the portal holds more contacts than one search can page through
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SEARCH = "POST /crm/v3/objects/contacts/search"


def _plain(portal: Portal) -> HubSpotConnector:
    """Contacts without subscription statuses: these tests are about search paging only."""
    return portal.connector(properties=["email"], subscriptions={})


def test_search_past_the_cap_reads_every_contact_exactly_once(portal: Portal):
    """10,500 changed contacts arrive oldest first, none lost, none repeated, no 400 at the cap."""
    assert PAST_THE_CAP > SEARCH_CAP
    portal.reset_stats()
    pages = list(_plain(portal).pull("contacts", EPOCH))
    assert pages.pop() == Page([], None)  # the page that closes a pull (connectors/window.py)
    pulled = [r for page in pages for r in page.records]
    assert len(pulled) == PAST_THE_CAP
    assert len({r.record_id for r in pulled}) == PAST_THE_CAP
    stamps = [r.modified_at for r in pulled]
    assert stamps == sorted(stamps)
    assert [p.watermark for p in pages] == sorted(p.watermark for p in pages if p.watermark)
    # each query restarts at the last stamp seen: one record of overlap per page, skipped
    assert portal.requests(SEARCH) == 1 + math.ceil((PAST_THE_CAP - SEARCH_LIMIT) / 199)
    assert portal.requests(SEARCH, 400) == 0


def test_contact_changed_mid_pull_is_read_again_and_nothing_is_skipped(portal: Portal):
    """A contact edited between pages moves to the end; no unread contact slips past a page."""
    pull = _plain(portal).pull("contacts", EPOCH)
    first = next(pull)
    moved = first.records[10].record_id
    portal.act("edit", id=moved, properties={"firstname": "Moved"})
    rest = [r for page in pull for r in page.records]
    seen = Counter(r.record_id for r in [*first.records, *rest])
    assert len(seen) == PAST_THE_CAP
    assert seen[moved] == 2 and rest[-1].record_id == moved
    assert sum(seen.values()) == PAST_THE_CAP + 1
