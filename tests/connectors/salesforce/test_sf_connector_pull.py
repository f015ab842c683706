"""Pulling by SystemModstamp: paging, watermarks, incremental windows, deletes, hostile values."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from consent_sync.connectors.protocol import Page
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from support.salesforce_org import SEEDED, MakeConnector, act, requests_to, seeded_ids

QUERY = "GET /services/data/v{version}/queryAll/"
QUERY_MORE = "GET /services/data/v{version}/queryAll/{cursor}"
LOOKBACK = timedelta(seconds=300)


def _next_second() -> datetime:
    """Wait for the next whole second: records stamped from here on are after the cursor."""
    now = time.time()
    time.sleep(int(now) + 1 - now)  # a clock boundary, not an event: nothing to poll
    return datetime.fromtimestamp(int(time.time()), UTC)


def _ids(pages: list[Page]) -> list[str]:
    return [r.record_id for page in pages for r in page.records]


def test_full_pull_pages_through_every_record_in_modstamp_order(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """5,000+ records arrive over nextRecordsUrl pages, ordered, once each, with watermarks."""
    pages = list(connector.pull("Contact", None))
    assert pages.pop() == Page([], None)  # the page that closes a pull (connectors/window.py)
    records = [r for page in pages for r in page.records]
    assert len(records) >= SEEDED
    assert len({r.record_id for r in records}) == len(records)
    stamps = [r.modified_at for r in records]
    assert stamps == sorted(stamps)
    assert len(pages) == -(-len(records) // 2000) >= 3
    for page in pages:
        assert page.watermark == max(r.modified_at for r in page.records)
        assert page.watermark.tzinfo is UTC
    assert requests_to(control, QUERY) == 1
    assert requests_to(control, QUERY_MORE) == len(pages) - 1


def test_small_page_size_is_honoured(make_connector: MakeConnector) -> None:
    """batchSize below 2000 (Sforce-Query-Options) gives smaller pages with the same records."""
    connector = make_connector(page_size=500)
    pages = list(connector.pull("Contact", datetime.now(UTC) - timedelta(days=2)))
    assert pages.pop() == Page([], None)  # the page that closes a pull (connectors/window.py)
    assert pages and all(len(page.records) <= 500 for page in pages)
    assert len(pages) == -(-sum(len(p.records) for p in pages) // 500)


def test_incremental_pull_returns_only_changed_records(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """Pulling since a cursor returns exactly the records changed after it, with new values."""
    cursor = _next_second()
    live = seeded_ids(connector, 3)
    for record_id in live:
        act(control, id=record_id, fields={"DoNotCall": True})
    pages = list(connector.pull("Contact", cursor))
    assert sorted(_ids(pages)) == sorted(live)
    assert all(r.fields["DoNotCall"] is True for page in pages for r in page.records)
    assert all(r.modified_at >= cursor for page in pages for r in page.records)


def test_late_commit_inside_the_lookback_window_is_pulled(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """A record committed late with an earlier stamp is missed from the cursor, caught from
    cursor - lookback."""
    _next_second()
    first = act(control, action="create", fields={"LastName": "Early", "Email": "e@x.test"})
    since = datetime.fromtimestamp(int(time.time()) - 1, UTC)
    [page] = [p for p in connector.pull("Contact", since) if p.records]
    cursor = page.watermark
    assert cursor is not None and first == [page.records[-1].record_id]
    time.sleep(1.1)  # the scenario: a commit that lands over a second after the cursor was read
    late = act(
        control,
        action="create",
        fields={"LastName": "Late", "Email": "late@x.test"},
        stamp_offset_seconds=-120,
    )
    assert late[0] not in _ids(list(connector.pull("Contact", cursor + timedelta(seconds=1))))
    assert late[0] in _ids(list(connector.pull("Contact", cursor - LOOKBACK)))


def test_deleted_records_come_back_marked_deleted(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """A record deleted in Salesforce is pulled (queryAll) with deleted=True."""
    [record_id] = act(control, action="create", fields={"LastName": "Gone", "Email": "g@x.test"})
    cursor = _next_second()
    act(control, action="delete", id=record_id)
    records = [r for page in connector.pull("Contact", cursor) for r in page.records]
    assert [(r.record_id, r.deleted) for r in records] == [(record_id, True)]
    [read_back] = connector.read("Contact", [record_id])
    assert read_back.deleted


HOSTILE = [
    "o'brien@x.com",
    "back\\slash@x.com",
    'quote"d@x.com',
    "zoë.ünïcode@exämple.de",
    "percent%20and+plus@x.com",
    "semi;colon'--@x.com",
]


@pytest.mark.parametrize("object_type", ["Contact", "Lead"])
def test_hostile_emails_round_trip_through_pull_and_read(
    connector: SalesforceConnector, control: httpx.Client, object_type: str
) -> None:
    """Quotes, backslashes, unicode and SOQL metacharacters survive pull and read unchanged."""
    cursor = _next_second()
    created = {
        act(control, action="create", sobject=object_type, fields={"LastName": "H", "Email": e})[
            0
        ]: e
        for e in HOSTILE
    }
    pulled = {
        r.record_id: r.fields["Email"]
        for page in connector.pull(object_type, cursor)
        for r in page.records
    }
    assert pulled == created
    read = {r.record_id: r.fields["Email"] for r in connector.read(object_type, list(created))}
    assert read == created


def test_pull_resumes_when_salesforce_closes_its_query_cursor(
    make_connector: MakeConnector, control: httpx.Client
) -> None:
    """Past 10 open cursors Salesforce closes the oldest; the pull resumes from its watermark
    and still returns every record, in order."""
    connector, other = make_connector(), make_connector(page_size=200)
    expected = {r.record_id for page in connector.pull("Contact", None) for r in page.records}
    pages = connector.pull("Contact", None)
    seen = list(next(pages).records)
    for _ in range(10):  # another job of the same integration user opens cursors
        seeded_ids(other, 1)
    seen += [r for page in pages for r in page.records]
    assert {r.record_id for r in seen} == expected
    stamps = [r.modified_at for r in seen]
    assert stamps == sorted(stamps)
    closed = control.get("/_sandbox/stats").json()["endpoints"][QUERY_MORE]
    assert closed.get("400") == 1  # INVALID_QUERY_LOCATOR, once
