"""Idle pulls: one search, no status reads, nothing re-delivered; changes are still read."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from consent_sync.connectors.hubspot.connector import HubSpotConnector
from consent_sync.domain.records import Record
from support.hubspot_portal import Portal

CONTACTS = 600
LOOKBACK = timedelta(seconds=300)
IN_WINDOW = 450  # more than two search pages of 200 changed "just now"
SEARCH = "POST /crm/v3/objects/contacts/search"
STATUS_READ = "POST /communication-preferences/v4/statuses/batch/read"


class EnginePulls:
    """Pulls as the engine makes them: from `cursor - lookback`, the cursor moved per page."""

    def __init__(self, connector: HubSpotConnector) -> None:
        self.connector = connector
        self.cursor: datetime | None = None

    def pull(self) -> tuple[list[Record], int]:
        """The records handed over and the calls it cost."""
        before = self.connector.api_calls
        since = None if self.cursor is None else self.cursor - LOOKBACK
        records: list[Record] = []
        for page in self.connector.pull("contacts", since):
            records += page.records
            if page.watermark is not None:
                self.cursor = max(self.cursor or page.watermark, page.watermark)
        return records, self.connector.api_calls - before


@pytest.fixture(scope="module")
def recent(portal: Portal) -> list[str]:
    """Contacts created just now: the lookback window a backfill's writes leave behind."""
    return [
        str(portal.act("create", properties={"email": f"recent{n}@idle.test"})["id"])
        for n in range(IN_WINDOW)
    ]


@pytest.fixture
def engine(portal: Portal, recent: list[str]) -> EnginePulls:
    """A connector after its backfill (full listing) and the first pull of the window."""
    pulls = EnginePulls(portal.connector())
    pulls.pull()
    pulls.pull()  # reads what the listing started before: the window's records, once
    return pulls


def test_an_idle_pull_is_one_search_and_reads_no_statuses(
    engine: EnginePulls, portal: Portal
) -> None:
    """Hundreds of contacts inside the lookback window, all read already: each idle cycle is
    one search, no v4 status read, and no record handed over."""
    portal.reset_stats()
    for _ in range(3):
        records, calls = engine.pull()
        assert (records, calls) == ([], 1)
    assert portal.requests(SEARCH) == 3
    assert portal.requests(STATUS_READ) == 0


def test_a_change_is_read_with_the_statuses_of_that_contact_only(
    engine: EnginePulls, portal: Portal, recent: list[str]
) -> None:
    """An unsubscribe after the backfill is handed over alone: one search, one status read."""
    portal.act("unsubscribe", id=recent[0])
    portal.reset_stats()
    records, calls = engine.pull()
    assert [r.record_id for r in records] == [recent[0]]
    assert records[0].fields["marketing_email"] == "UNSUBSCRIBED"
    assert calls == 2
    assert portal.requests(STATUS_READ) == 1
    assert engine.pull() == ([], 1)


def test_contacts_of_a_page_never_committed_are_handed_over_again(
    engine: EnginePulls, portal: Portal, recent: list[str]
) -> None:
    """A pull abandoned after a page (the engine never committed it) remembers nothing of it."""
    for record_id in recent[1:4]:
        portal.act("edit", id=record_id, properties={"sms_consent": "opted_in"})
    assert engine.cursor is not None
    pages = engine.connector.pull("contacts", engine.cursor - LOOKBACK)
    first = next(pages)
    pages.close()
    assert sorted(r.record_id for r in first.records) == sorted(recent[1:4])
    records, _ = engine.pull()
    assert sorted(r.record_id for r in records) == sorted(recent[1:4])
