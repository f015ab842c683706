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
