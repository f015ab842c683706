"""Idle pulls: the lookback window is not fetched again once read, and no record is skipped."""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from consent_sync.connectors.salesforce.connector import SalesforceConnector
from consent_sync.domain.records import Record
from consent_sync.sync.prefetch import prefetched
from support.salesforce_org import MakeConnector, Org, act

LOOKBACK = timedelta(seconds=300)
PAGE = 200  # the smallest batchSize Salesforce honours: the window spans several pages
IN_WINDOW = 2 * PAGE + 50


@dataclass
class Pulled:
    records: list[Record]
    calls: int


class EnginePulls:
    """Pulls as the engine makes them: from `cursor - lookback`, the cursor moved per page."""

    def __init__(self, connector: SalesforceConnector) -> None:
        self.connector = connector
        self.cursor: datetime | None = None

    def pull(self, object_type: str = "Contact") -> Pulled:
        before = self.connector.api_calls
        since = None if self.cursor is None else self.cursor - LOOKBACK
        records: list[Record] = []
        for page in self.connector.pull(object_type, since):
            records += page.records
            if page.watermark is not None:
                self.cursor = max(self.cursor or page.watermark, page.watermark)
        return Pulled(records, self.connector.api_calls - before)


@pytest.fixture(scope="module")
def busy_window(org: Org) -> list[str]:
    """Records changed just now, more than two pages of them: the window a backfill leaves."""
    with org.control() as control:
        return [
            act(control, action="create", fields={"LastName": f"Recent {n}"})[0]
            for n in range(IN_WINDOW)
        ]


@pytest.fixture
def engine(
    make_connector: MakeConnector, busy_window: list[str], control: httpx.Client
) -> EnginePulls:
    """A connector after its backfill (REST full read), as the engine drives it."""
    pulls = EnginePulls(make_connector(page_size=PAGE, bulk_threshold=10**9))
    pulls.pull()
    return pulls


def test_an_idle_pull_is_one_call_and_yields_nothing(engine: EnginePulls) -> None:
    """Right after a backfill the lookback window holds hundreds of records already read: the
    idle pull costs one query and hands over none of them, cycle after cycle."""
    for _ in range(3):
        idle = engine.pull()
        assert idle.calls == 1
        assert idle.records == []


def test_a_change_after_the_backfill_is_read_in_the_same_one_call(
    engine: EnginePulls, control: httpx.Client, busy_window: list[str]
) -> None:
    """A record changed since is handed over, alone, and the next cycle is idle again."""
    act(control, id=busy_window[0], fields={"DoNotCall": True})
    changed = engine.pull()
    assert [r.record_id for r in changed.records] == [busy_window[0]]
    assert changed.records[0].fields["DoNotCall"] is True
    assert changed.calls == 1
    assert engine.pull().records == []


def test_a_record_stamped_exactly_at_the_watermark_after_the_read_is_read(
    engine: EnginePulls, control: httpx.Client, busy_window: list[str]
) -> None:
    """I5 at the edge: a record committed after the last read with the very stamp of the
    cursor (same millisecond) is not taken for one already seen."""
    assert engine.cursor is not None
    target = busy_window[1]
    body = control.post(
        "/_sandbox/act",
        json={"id": target, "fields": {"DoNotCall": True}, "stamp_at": engine.cursor.isoformat()},
    ).json()
    assert datetime.fromisoformat(body["records"][0]["SystemModstamp"]) == engine.cursor
    pulled = engine.pull()
    assert [r.record_id for r in pulled.records] == [target]
    assert pulled.records[0].modified_at == engine.cursor


def test_a_late_commit_inside_the_window_is_still_read(
    engine: EnginePulls, control: httpx.Client
) -> None:
    """A record committed now with a stamp a minute old (behind the cursor, older than the
    window's newest page) does not add up with what was read: the window is read again, and
    only that record is handed over."""
    [late] = act(control, action="create", fields={"LastName": "Late"}, stamp_offset_seconds=-60)
    pulled = engine.pull()
    assert [r.record_id for r in pulled.records] == [late]
    assert pulled.calls > 1  # one to see the count, then the window's pages
    assert engine.pull().calls == 1


def test_records_of_a_page_the_engine_never_committed_are_handed_over_again(
    engine: EnginePulls, control: httpx.Client, busy_window: list[str]
) -> None:
    """A pull abandoned after a page (the engine crashed before committing it) remembers
    nothing of that page: the next pull hands the same records over."""
    changed = busy_window[2:5]
    for record_id in changed:
        act(control, id=record_id, fields={"HasOptedOutOfFax": True})
    assert engine.cursor is not None
    pages = engine.connector.pull("Contact", engine.cursor - LOOKBACK)
    first = next(pages)
    pages.close()
    assert sorted(r.record_id for r in first.records) == sorted(changed)
    again = engine.pull()
    assert sorted(r.record_id for r in again.records) == sorted(changed)


def test_a_page_read_ahead_while_the_last_one_failed_to_commit_is_handed_over_again(
    engine: EnginePulls, control: httpx.Client, busy_window: list[str]
) -> None:
    """The engine reads one page ahead of its commits (sync/prefetch.py): a page whose commit
    failed is remembered as nothing, although the connector was already asked for more."""
    changed = busy_window[5:8]
    for record_id in changed:
        act(control, id=record_id, fields={"HasOptedOutOfEmail": True})
    assert engine.cursor is not None
    with closing(prefetched(engine.connector.pull("Contact", engine.cursor - LOOKBACK))) as pages:
        first = next(pages)  # the worker is already asking the connector for the next page
    # ...and the commit of `first` failed: the loop is left, the iterator closed
    assert sorted(r.record_id for r in first.records) == sorted(changed)
    again = engine.pull()
    assert sorted(r.record_id for r in again.records) == sorted(changed)
    assert engine.pull().records == []
