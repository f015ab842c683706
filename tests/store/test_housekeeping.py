"""Housekeeping: run history and dead leases do not grow without bound."""

from __future__ import annotations

from datetime import timedelta

from consent_sync.store import Store
from support.store_builders import at


def test_old_runs_and_long_expired_leases_are_pruned(store: Store) -> None:
    """Finished runs past the retention and leases expired a day ago go; the rest stays."""
    old = store.coordination.start_run("salesforce", "pull", at(0))
    store.coordination.finish_run(old, {"records_read": 1}, None, at(1))
    recent = store.coordination.start_run("salesforce", "pull", at(60 * 24 * 40))
    store.coordination.finish_run(recent, {"records_read": 2}, None, at(60 * 24 * 40 + 1))
    running = store.coordination.start_run("hubspot", "pull", at(2))  # never finished: kept
    assert store.coordination.acquire_lease("system:gone", "host:1:a", at(10), at(0))
    assert store.coordination.acquire_lease(
        "system:live", "host:2:b", at(60 * 24 * 42), at(60 * 24 * 40)
    )
    removed = store.coordination.housekeep(at(60 * 24 * 41), keep_runs=timedelta(days=30))
    assert removed == {"sync_runs": 1, "leases": 1}
    kept = {run.id for run in store.views.recent_runs(limit=10)}
    assert kept == {recent, running}
    assert store.coordination.acquire_lease(
        "system:gone", "host:3:c", at(60 * 24 * 41), at(60 * 24 * 41)
    )
    assert not store.coordination.acquire_lease(
        "system:live", "host:3:c", at(60 * 24 * 41), at(60 * 24 * 41)
    )
