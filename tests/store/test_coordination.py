"""Cursors, leases and sync runs."""

from __future__ import annotations

import pytest

from consent_sync.store import Store, SyncRunNotFoundError
from support.store_builders import at


def test_cursor_only_moves_forward(store: Store) -> None:
    """A watermark starts unset, advances, and never moves back."""
    assert store.coordination.cursor("salesforce", "Contact") is None
    assert store.coordination.advance_cursor("salesforce", "Contact", at(10), at(11)) == at(10)
    assert store.coordination.advance_cursor("salesforce", "Contact", at(5), at(12)) == at(10)
    assert store.coordination.cursor("salesforce", "Contact") == at(10)
    assert store.coordination.cursor("salesforce", "Lead") is None


def test_lease_is_exclusive_until_it_expires(store: Store) -> None:
    """One holder at a time; the holder renews; another takes over after expiry or release."""
    assert store.coordination.acquire_lease("pull:salesforce", "replica-a", at(5), at(0))
    assert not store.coordination.acquire_lease("pull:salesforce", "replica-b", at(6), at(1))
    assert store.coordination.acquire_lease("pull:salesforce", "replica-a", at(10), at(4))
    assert not store.coordination.acquire_lease("pull:salesforce", "replica-b", at(12), at(9))
    assert store.coordination.acquire_lease("pull:salesforce", "replica-b", at(20), at(10))
    assert not store.coordination.release_lease("pull:salesforce", "replica-a")
    assert store.coordination.release_lease("pull:salesforce", "replica-b")
    assert store.coordination.acquire_lease("pull:salesforce", "replica-a", at(30), at(11))


def test_sync_run_is_recorded_with_counts_and_error(store: Store) -> None:
    """A run's start, end, counts and error are kept, newest first."""
    first = store.coordination.start_run("hubspot", "pull", at(0))
    store.coordination.finish_run(first, {"records": 12, "decisions": 2}, None, at(1))
    second = store.coordination.start_run("hubspot", "push", at(2))
    store.coordination.finish_run(second, {"written": 0}, "429 storm", at(3))
    runs = store.views.recent_runs("hubspot")
    assert [(r.kind, r.error) for r in runs] == [("push", "429 storm"), ("pull", None)]
    assert runs[1].counts == {"records": 12, "decisions": 2}
    assert runs[1].finished_at == at(1)
    assert store.views.recent_runs("salesforce") == []
    with pytest.raises(SyncRunNotFoundError):
        store.coordination.finish_run(first.__class__(int=0), {}, None, at(4))


def test_a_run_names_the_replica_that_ran_it(store: Store) -> None:
    """A daemon replica's run keeps its holder id; a one-shot sync's names nobody."""
    daemon = store.coordination.start_run("hubspot", "pull", at(0), "vm:4242:1a2b3c4d")
    one_shot = store.coordination.start_run("hubspot", "cycle", at(1))
    runners = {r.id: r.runner for r in store.views.recent_runs("hubspot")}
    assert runners == {daemon: "vm:4242:1a2b3c4d", one_shot: None}
