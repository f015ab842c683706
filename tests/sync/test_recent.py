"""`RecentReads`: which records the pusher may write without reading them back first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent_sync.sync.recent import RecentReads

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_record_read_within_the_bound_is_fresh_and_then_stale() -> None:
    """Read at T0: not read back at T0+60 s, read back at T0+61 s; other systems and objects,
    and records never read, are always read back."""
    recent = RecentReads(timedelta(seconds=60))
    recent.note("salesforce", "Contact", ["003A", "003B"], T0)
    fresh = T0 + timedelta(seconds=60)
    assert recent.stale("salesforce", "Contact", ["003A", "003B", "003C"], fresh, T0) == ["003C"]
    assert recent.stale("salesforce", "Lead", ["003A"], fresh, T0) == ["003A"]
    assert recent.stale("hubspot", "Contact", ["003A"], fresh, T0) == ["003A"]
    late = T0 + timedelta(seconds=61)
    assert recent.stale("salesforce", "Contact", ["003A", "003B"], late, T0) == ["003A", "003B"]


def test_memory_holds_only_what_was_read_within_the_bound() -> None:
    """A long backfill does not grow the memory: reads older than the bound are forgotten as
    new ones arrive, a record read again keeps its newer time."""
    recent = RecentReads(timedelta(seconds=30))
    for minute in range(100):
        ids = [f"{minute}-{n}" for n in range(100)] + ["again"]
        recent.note("salesforce", "Contact", ids, T0 + timedelta(minutes=minute))
    assert len(recent) == 101
    assert recent.stale("salesforce", "Contact", ["again"], T0 + timedelta(minutes=99), T0) == []


def test_a_zero_bound_reads_everything_back() -> None:
    """`fresh_for=0` turns the shortcut off."""
    recent = RecentReads(timedelta(0))
    recent.note("salesforce", "Contact", ["003A"], T0)
    assert recent.stale("salesforce", "Contact", ["003A"], T0, T0) == ["003A"]


def test_only_reads_since_the_latest_pull_count() -> None:
    """A record an earlier pull read is read back if the latest pull did not return it (it may
    have changed without its change stamp showing it); no pull at all: every record."""
    recent = RecentReads(timedelta(seconds=60))
    recent.note("salesforce", "Contact", ["003A"], T0)
    recent.note("salesforce", "Contact", ["003B"], T0 + timedelta(seconds=10))
    now, pulled = T0 + timedelta(seconds=20), T0 + timedelta(seconds=5)
    assert recent.stale("salesforce", "Contact", ["003A", "003B"], now, pulled) == ["003A"]
    assert recent.stale("salesforce", "Contact", ["003B"], now, None) == ["003B"]


def _coverable(reads: timedelta = timedelta(seconds=60)) -> RecentReads:
    """Salesforce Contacts are coverable (their pulls see every change), HubSpot's are not."""
    return RecentReads(reads, lambda system, _object: system == "salesforce")


def test_a_completed_pull_covers_what_it_did_not_return_since_its_cursor() -> None:
    """A full read at T0, then an incremental pull from a cursor before T0 that began at
    T0+5 min and returned nothing: the records are known as of T0+5 min. One read before the
    cursor is not covered (a change to it may predate the pull's window)."""
    recent = _coverable()
    recent.note("salesforce", "Contact", ["before"], T0 - timedelta(minutes=10))
    recent.note("salesforce", "Contact", ["003A", "003B"], T0)
    pulled = T0 + timedelta(minutes=5)
    now = pulled + timedelta(seconds=30)
    ids = ["003A", "003B", "before"]
    assert recent.stale("salesforce", "Contact", ids, now, pulled) == ids  # not covered yet
    recent.covered("salesforce", "Contact", T0 - timedelta(minutes=1), pulled)
    assert recent.stale("salesforce", "Contact", ids, now, pulled) == ["before"]
    # fresh for `fresh_for` after the covering pull began, then read back again
    late = pulled + timedelta(seconds=61)
    assert recent.stale("salesforce", "Contact", ["003A"], late, pulled) == ["003A"]


def test_a_pull_covers_nothing_on_an_object_whose_stamps_may_miss_changes() -> None:
    """HubSpot's search may lag behind a change: only records a read returned count there."""
    recent = _coverable(timedelta(seconds=600))
    recent.note("hubspot", "contacts", ["101"], T0)
    pulled = T0 + timedelta(seconds=30)
    recent.covered("hubspot", "contacts", T0 - timedelta(minutes=1), pulled)
    assert recent.stale("hubspot", "contacts", ["101"], pulled, pulled) == ["101"]


def test_a_record_the_covering_pull_returned_unparseable_is_read_back() -> None:
    """A pull that returned a record it could not parse supersedes what was known of it: the
    pull covers it not, and a read-back that began before that pull cannot restore it."""
    recent = _coverable()
    recent.note("salesforce", "Contact", ["003A", "003B"], T0)
    pulled = T0 + timedelta(minutes=5)
    recent.forget("salesforce", "Contact", ["003B"], pulled)  # returned; would not parse
    recent.note("salesforce", "Contact", ["003B"], pulled - timedelta(seconds=1))  # slow read
    recent.covered("salesforce", "Contact", T0 - timedelta(minutes=1), pulled)
    now = pulled + timedelta(seconds=10)
    assert recent.stale("salesforce", "Contact", ["003A", "003B"], now, pulled) == ["003B"]
    # a read that began after it returned it readable again
    read_again = now + timedelta(seconds=1)
    recent.forget("salesforce", "Contact", ["003B"], read_again)
    recent.note("salesforce", "Contact", ["003B"], read_again)
    later = read_again + timedelta(seconds=5)
    assert recent.stale("salesforce", "Contact", ["003A", "003B"], later, pulled) == []


def test_coverable_reads_are_kept_until_no_pull_can_cover_them() -> None:
    """Without a covering pull a coverable object's reads outlive `fresh_for` (a backfill's
    records wait for the next pull); once a pull's cursor has passed them, they are dropped."""
    recent = _coverable(timedelta(seconds=30))
    recent.note("salesforce", "Contact", [f"003{n}" for n in range(100)], T0)
    recent.note("hubspot", "contacts", ["101"], T0)
    hour = T0 + timedelta(hours=1)
    recent.note("hubspot", "contacts", ["102"], hour)
    assert len(recent) == 101  # HubSpot's read at T0 is gone, Salesforce's kept
    recent.covered("salesforce", "Contact", T0 + timedelta(minutes=1), hour)  # cursor past T0
    assert len(recent) == 1


def test_a_full_read_supersedes_older_knowledge_of_the_object() -> None:
    """After a full read began at T, reads from before T are dropped once past `fresh_for`."""
    recent = _coverable(timedelta(seconds=30))
    recent.note("salesforce", "Contact", ["gone"], T0)
    full = T0 + timedelta(minutes=10)
    recent.note("salesforce", "Contact", ["003A"], full)
    recent.covered("salesforce", "Contact", None, full)
    assert len(recent) == 1
    assert recent.stale("salesforce", "Contact", ["003A", "gone"], full, full) == ["gone"]


def test_past_the_limit_records_read_are_not_remembered_and_are_read_back() -> None:
    """A backfill larger than the limit keeps the memory bounded: the records past it are
    read back before their writes, the ones remembered are not; a record read again while the
    memory is full moves to its newer time without counting twice."""
    recent = RecentReads(timedelta(seconds=60), limit=3)
    recent.note("salesforce", "Contact", ["003A", "003B"], T0)
    recent.note(
        "salesforce", "Contact", ["003B", "003C", "003D", "003E"], T0 + timedelta(seconds=1)
    )
    assert len(recent) == 3
    now = T0 + timedelta(seconds=2)
    wanted = ["003A", "003B", "003C", "003D", "003E"]
    assert recent.stale("salesforce", "Contact", wanted, now, T0) == ["003D", "003E"]
    recent.note("salesforce", "Lead", ["00QA"], T0)  # the limit is per object
    assert recent.stale("salesforce", "Lead", ["00QA"], now, T0) == []
