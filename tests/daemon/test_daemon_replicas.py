"""Replicas on one PostgreSQL database: one system is never worked on by two at once, a graceful
stop hands the work over at once, and a killed replica's work is finished by the other."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from consent_sync.store import Store
from consent_sync.store.tables import SyncRunRow
from support.convergence import SYSTEMS, quiescent, shared_granted_people
from support.daemon import Daemon, Harness
from support.sandboxes import MARKETING
from support.waiting import wait_for

pytestmark = pytest.mark.postgres

CONTACTS = 3000
SANDBOX_SEED = 7
DATABASE = "pg_url"
LEASE_TTL = 10.0


def holder_of(daemon: Daemon) -> str:
    """The lease holder id a daemon logged at start."""
    for line in daemon.log_path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("event") == "scheduler started":
            return str(event["holder"])
    raise AssertionError(f"no holder logged:\n{daemon.tail()}")


def assert_runs_never_overlap(store: Store, *daemons: Daemon) -> int:
    """Per system, no two replicas' runs overlap in time; returns how many runs were checked.

    Each run names the replica that ran it (`runner`, its lease holder id). One replica's runs
    overlap only nested: a run its long pull made between two pages (the webhook reads and
    revocations owed to that system, docs/design.md), inside the pull's run.
    """
    holders = {holder_of(daemon) for daemon in daemons}
    checked = 0
    for system in SYSTEMS:
        runs = sorted(
            (r for r in store.views.recent_runs(system, 10_000) if r.finished_at is not None),
            key=lambda r: r.started_at,
        )
        assert {r.runner for r in runs} <= holders, (system, {r.runner for r in runs}, holders)
        for index, earlier in enumerate(runs):
            assert earlier.finished_at is not None
            for later in runs[index + 1 :]:
                if later.started_at >= earlier.finished_at:
                    break  # sorted by start: no later run overlaps this one either
                assert later.finished_at is not None
                assert earlier.runner == later.runner, (system, earlier, later)
                assert later.finished_at <= earlier.finished_at, (system, earlier, later)
        checked += len(runs)
    return checked


def wait_for_next_run(store: Store, system: str, after: datetime) -> SyncRunRow:
    """The first run of `system` started after `after`, once there is one."""

    def later() -> list[SyncRunRow]:
        return [r for r in store.views.recent_runs(system, 5) if r.started_at > after]

    wait_for(lambda: bool(later()), LEASE_TTL, f"{system} to be taken over")
    return min(later(), key=lambda r: r.started_at)


def pulled_by(daemon: Daemon) -> set[str]:
    """Run ids of the pulls a daemon logged."""
    runs = set()
    for line in daemon.log_path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("event") == "pull" and "run_id" in event:
            runs.add(str(event["run_id"]))
    return runs


def test_sigterm_releases_leases_and_the_other_replica_continues_at_once(
    harness: Harness,
) -> None:
    """SIGTERM mid-backfill exits 0 with no lease left behind; the other replica runs next."""
    ttl = ["--lease-ttl", "60"]  # were a lease left behind, the other would wait a minute
    first = harness.daemon(*ttl)
    first.wait_ready()
    with Store.open(harness.database_url) as store:
        wait_for(lambda: bool(store.views.recent_runs(None, 1)), 20, "the first run")
        second = harness.daemon(*ttl)
        second.wait_ready()
        holder = holder_of(first)
        signalled = datetime.now(UTC)
        assert first.terminate() == 0
        exited = datetime.now(UTC)
        print(f"\nSIGTERM to exit 0: {(exited - signalled).total_seconds():.2f} s")
        with store.engine.connect() as connection:
            left = connection.exec_driver_sql(
                "SELECT name FROM leases WHERE acquired_by = %s", (holder,)
            ).all()
        assert left == []
        handed_over = [
            r
            for system in SYSTEMS
            for r in store.views.recent_runs(system, 20)
            if r.started_at < signalled and r.finished_at is not None and r.finished_at > signalled
        ]
        assert handed_over, "the stopped replica should have been mid-run when signalled"
        for stopped in handed_over:
            assert stopped.finished_at is not None
            following = wait_for_next_run(store, stopped.system, stopped.started_at)
            gap = (following.started_at - stopped.finished_at).total_seconds()
            print(f"{stopped.system}: next run {gap:.2f} s after the stopped replica's run ended")
            assert gap < 5
        wait_for(lambda: quiescent(store, exited), 90, "the backfill to finish")
        assert assert_runs_never_overlap(store, first, second) > 0
    assert second.terminate() == 0


def test_two_replicas_share_without_overlap_and_one_finishes_after_the_other_dies(
    harness: Harness,
) -> None:
    """Two replicas: no system worked on by both at once; kill -9 one, the other propagates."""
    ttl = ["--lease-ttl", str(LEASE_TTL)]
    first, second = harness.daemon(*ttl), harness.daemon(*ttl)
    first.wait_ready()
    second.wait_ready()
    with Store.open(harness.database_url) as store:
        wait_for(lambda: quiescent(store, datetime.min.replace(tzinfo=UTC)), 90, "the backfill")
        wait_for(lambda: bool(pulled_by(first) and pulled_by(second)), 20, "both to pull")
        people = shared_granted_people(store, 3)
        harness.act(
            "hubspot", {"action": "unsubscribe", "email": people[0], "subscription_id": MARKETING}
        )
        first.kill()
        killed = time.monotonic()
        harness.act(
            "hubspot", {"action": "unsubscribe", "email": people[1], "subscription_id": MARKETING}
        )

        def propagated() -> bool:
            return all(
                all(r["HasOptedOutOfEmail"] is True for r in harness.salesforce_records(p))
                for p in people[:2]
            )

        wait_for(propagated, LEASE_TTL + 1 + 5, "the survivor to propagate", every=0.1)
        print(f"\nkill -9 to both revocations in Salesforce: {time.monotonic() - killed:.2f} s")
        checked = assert_runs_never_overlap(store, first, second)
        assert checked > 10
    assert second.terminate() == 0
