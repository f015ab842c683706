"""The scheduler in-process: the sweep reads back every record and catches a change the
incremental pull cannot see; stopping releases every lease."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.daemon.leases import Leases
from consent_sync.daemon.metrics import SyncMetrics
from consent_sync.daemon.scheduler import SyncScheduler
from consent_sync.store import Store
from consent_sync_sandbox.runner import start_sandbox
from support.convergence import quiescent, shared_granted_people
from support.daemon import Harness
from support.paths import REPO
from support.waiting import wait_for

CONTACTS = 200


@dataclass
class Running:
    harness: Harness
    store: Store
    daemon: SyncScheduler


@pytest.fixture
def running(tmp_path: Path, sqlite_url: str) -> Iterator[Running]:
    sandbox = start_sandbox(tmp_path / "sandbox", contacts=CONTACTS, seed=9)
    config = load_config(REPO, env=sandbox.env)
    connectors: dict[str, Connector] = {
        name: build_connector(config.connectors[name], config.mappings[name])
        for name in config.connectors
    }
    store = Store.open(sqlite_url)
    leases = Leases(store)
    daemon = SyncScheduler(
        store, config, connectors, leases, SyncMetrics(store, tuple(connectors)), pull_interval=2
    )
    daemon.start()
    try:
        yield Running(Harness(sandbox, sqlite_url, tmp_path), store, daemon)
    finally:
        daemon.stop(10)
        store.close()
        for connector in connectors.values():
            connector.close()
        sandbox.stop()


def test_sweep_reads_everything_and_catches_a_change_the_pull_missed(running: Running) -> None:
    """A rep's edit committed an hour in the past is outside the lookback; the sweep finds it."""
    store, harness = running.store, running.harness
    wait_for(lambda: quiescent(store, datetime.min.replace(tzinfo=UTC)), 60, "the first pulls")
    person = shared_granted_people(store, 1)[0]
    harness.act(
        "salesforce",
        {
            "action": "update",
            "email": person,
            "fields": {"HasOptedOutOfEmail": True},
            "stamp_offset_seconds": -3600,
        },
    )
    job = running.daemon.scheduler.get_job("sweep:salesforce")
    assert job is not None
    job.modify(next_run_time=datetime.now(UTC))

    def swept() -> bool:
        return any(
            r.kind == "sweep" and r.finished_at for r in store.views.recent_runs("salesforce", 5)
        )

    wait_for(swept, 30, "the sweep")
    sweep = next(r for r in store.views.recent_runs("salesforce", 5) if r.kind == "sweep")
    assert sweep.error is None
    # Every record of every mapped object: the contacts and the consent records beside them.
    with store.engine.connect() as connection:
        linked = connection.execute(
            text("SELECT COUNT(*) FROM links WHERE system = 'salesforce' AND ended_at IS NULL")
        ).scalar_one()
    assert sweep.counts["records_read"] == linked > CONTACTS
    assert {s.purpose: s.status for s in store.views.subject(person).states}["email_marketing"] == (
        "denied"
    )

    def in_hubspot() -> bool:
        held = harness.hubspot_contact(person)["subscriptions"].get("1001", {})
        return held.get("status") == "UNSUBSCRIBED"  # no entry yet: never asked

    wait_for(in_hubspot, 15, "the revocation in HubSpot")


def test_stop_releases_every_lease(running: Running) -> None:
    """After stop() no lease of this process is left in the database."""
    wait_for(lambda: bool(running.store.views.recent_runs(None, 1)), 30, "a first run")
    assert running.daemon.stop(10)
    with running.store.engine.connect() as connection:
        held = connection.exec_driver_sql(
            "SELECT name FROM leases WHERE acquired_by = ?", (running.daemon.leases.holder,)
        ).all()
    assert held == []
    assert not running.daemon.running


def test_housekeeping_is_scheduled_and_prunes_under_its_lease(running: Running) -> None:
    """The hourly housekeeping job prunes old runs and gives its lease back."""
    job = running.daemon.scheduler.get_job("housekeeping")
    assert job is not None
    stale = running.store.coordination.start_run(
        "salesforce", "pull", datetime(2020, 1, 1, tzinfo=UTC)
    )
    running.store.coordination.finish_run(stale, {}, None, datetime(2020, 1, 1, 0, 1, tzinfo=UTC))
    job.func()
    assert stale not in {run.id for run in running.store.views.recent_runs(None, 500)}
    with running.store.engine.connect() as connection:
        held = connection.exec_driver_sql(
            "SELECT name FROM leases WHERE name = 'housekeeping'"
        ).all()
    assert held == []
