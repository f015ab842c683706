"""A webhook during a long sweep of its system: the records it names are read between the sweep's
pages, as a webhook run of their own, so the revocation reaches the other CRM before the sweep
ends; a read that fails there leaves them queued and the sweep goes on; stopping still stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector, TransientError
from consent_sync.daemon.leases import Leases
from consent_sync.daemon.metrics import SyncMetrics
from consent_sync.daemon.scheduler import SyncScheduler
from consent_sync.domain.records import Page, Record
from consent_sync.store import Store, WebhookNotice
from consent_sync.store.tables import SyncRunRow
from consent_sync_sandbox.runner import start_sandbox
from support.convergence import shared_granted_people
from support.daemon import Harness
from support.paths import REPO
from support.sandboxes import MARKETING
from support.waiting import wait_for

CONTACTS = 200  # two HubSpot pages of 100
PULL_INTERVAL = 300  # polling cannot explain anything these tests see


class HeldSweep:
    """The HubSpot connector, whose next full read, once `hold()` is called, keeps handing over
    empty pages after its first page (each committed and checkpointed like any other) until
    `release()`: a sweep as long as the test needs."""

    def __init__(self, inner: Connector) -> None:
        self._inner = inner
        self._armed = False
        self.held = threading.Event()  # the full read is between its pages, held
        self._released = threading.Event()
        self.refusing_reads = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def hold(self) -> None:
        self._armed = True

    def release(self) -> None:
        self._released.set()

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        pages = iter(self._inner.pull(object_type, since))
        if since is not None or not self._armed:
            yield from pages
            return
        self._armed = False
        yield next(pages)
        self.held.set()
        while not self._released.wait(0.05):
            yield Page([], None)
        yield from pages

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        if self.refusing_reads:
            raise TransientError("HTTP 502 from the test", system="hubspot")
        records: list[Record] = self._inner.read(object_type, record_ids)
        return records


@dataclass
class Running:
    harness: Harness
    store: Store
    daemon: SyncScheduler
    hubspot: HeldSweep


@pytest.fixture
def running(tmp_path: Path, sqlite_url: str) -> Iterator[Running]:
    sandbox = start_sandbox(tmp_path / "sandbox", contacts=CONTACTS, seed=13)
    config = load_config(REPO, env=sandbox.env)
    built = {
        name: build_connector(config.connectors[name], config.mappings[name])
        for name in config.connectors
    }
    hubspot = HeldSweep(built["hubspot"])
    connectors: dict[str, Connector] = {**built, "hubspot": hubspot}
    store = Store.open(sqlite_url)
    daemon = SyncScheduler(
        store,
        config,
        connectors,
        Leases(store),
        SyncMetrics(store, tuple(connectors)),
        pull_interval=PULL_INTERVAL,
    )
    daemon.start()
    try:
        yield Running(Harness(sandbox, sqlite_url, tmp_path), store, daemon, hubspot)
    finally:
        hubspot.release()
        daemon.stop(10)
        store.close()
        for connector in built.values():
            connector.close()
        sandbox.stop()


def runs(store: Store, kind: str) -> list[SyncRunRow]:
    """HubSpot's runs of one kind, newest first."""
    return [r for r in store.views.recent_runs("hubspot", 50) if r.kind == kind]


def backfilled(store: Store) -> bool:
    """Each system's first pull has finished and nothing is owed to either."""
    pulled = all(
        any(r.kind == "pull" and r.finished_at is not None for r in store.views.recent_runs(s, 5))
        for s in ("salesforce", "hubspot")
    )
    return pulled and not any(b.pending for b in store.views.backlog().values())


def sweep_held(running: Running) -> str:
    """Backfill, start the HubSpot sweep and hold it between its pages; a person to act as."""
    wait_for(lambda: backfilled(running.store), 60, "the backfill")
    person = shared_granted_people(running.store, 1)[0]
    assert not any(r["HasOptedOutOfEmail"] for r in running.harness.salesforce_records(person))
    running.hubspot.hold()
    job = running.daemon.scheduler.get_job("sweep:hubspot")
    assert job is not None
    job.modify(next_run_time=datetime.now(UTC))
    wait_for(running.hubspot.held.is_set, 30, "the sweep's first page")
    return person


def unsubscribe_with_webhook(running: Running, person: str) -> str:
    """The person unsubscribes in HubSpot and its webhook names their contact; its id."""
    contact_id = str(running.harness.hubspot_contact(person)["id"])
    running.harness.act(
        "hubspot", {"action": "unsubscribe", "email": person, "subscription_id": MARKETING}
    )
    running.daemon.read_now("hubspot", [WebhookNotice("contacts", contact_id, False)])
    return contact_id


def opted_out_in_salesforce(running: Running, person: str) -> bool:
    records = running.harness.salesforce_records(person)
    return bool(records) and all(r["HasOptedOutOfEmail"] is True for r in records)


def test_a_webhook_during_a_sweep_reaches_salesforce_before_the_sweep_ends(
    running: Running,
) -> None:
    """The unsubscribe a webhook names is read between the sweep's pages and pushed to
    Salesforce while the sweep still runs; the sweep then finishes as if nothing happened, and
    each HubSpot API call is counted by one run."""
    wait_for(lambda: backfilled(running.store), 60, "the backfill")
    since, calls_before = datetime.now(UTC), int(running.hubspot.api_calls)
    person = sweep_held(running)
    unsubscribe_with_webhook(running, person)
    wait_for(lambda: opted_out_in_salesforce(running, person), 20, "the opt-out in Salesforce")
    (sweep,) = runs(running.store, "sweep")
    assert sweep.finished_at is None  # held: it cannot have finished
    (webhook,) = runs(running.store, "webhook")
    assert webhook.error is None and webhook.counts["records_read"] == 1
    assert webhook.started_at > sweep.started_at

    running.hubspot.release()
    wait_for(lambda: runs(running.store, "sweep")[0].finished_at is not None, 30, "the sweep")
    (sweep,) = runs(running.store, "sweep")
    assert sweep.error is None
    assert sweep.counts["records_read"] == CONTACTS
    assert sweep.finished_at is not None and webhook.finished_at is not None
    assert sweep.finished_at > webhook.finished_at
    # Read once: the read job that waited for the sweep found nothing left to read.
    assert [r.id for r in runs(running.store, "webhook")] == [webhook.id]

    def counted_once() -> bool:
        since_sweep = [
            r for r in running.store.views.recent_runs("hubspot", 50) if r.started_at >= since
        ]
        counted = sum(r.counts.get("api_calls", 0) for r in since_sweep)
        return counted == int(running.hubspot.api_calls) - calls_before

    wait_for(counted_once, 10, "every HubSpot API call counted by one run")


def test_a_read_failing_between_pages_leaves_the_ids_queued_and_the_sweep_going(
    running: Running,
) -> None:
    """HubSpot refusing the webhook's read mid-sweep is a failed webhook run, not a failed
    sweep; the contact stays queued and reaches Salesforce once HubSpot answers again."""
    person = sweep_held(running)
    running.hubspot.refusing_reads = True
    contact_id = unsubscribe_with_webhook(running, person)
    wait_for(lambda: bool(runs(running.store, "webhook")), 20, "the webhook run")
    failed = runs(running.store, "webhook")[-1]
    assert failed.error is not None and "HTTP 502" in failed.error
    assert running.store.webhooks.pending("hubspot").named == {("contacts", contact_id): False}
    assert runs(running.store, "sweep")[0].finished_at is None

    running.hubspot.refusing_reads = False
    running.hubspot.release()
    wait_for(lambda: opted_out_in_salesforce(running, person), 30, "the opt-out in Salesforce")
    wait_for(lambda: runs(running.store, "sweep")[0].finished_at is not None, 30, "the sweep")
    (sweep,) = runs(running.store, "sweep")
    assert sweep.error is None and sweep.counts["records_read"] == CONTACTS
    # The sweep's own later pages may carry the opt-out first; the queued id is read (and
    # unqueued) by the next look at the queue, within the read job's interval.
    wait_for(lambda: running.store.webhooks.pending("hubspot").named == {}, 15, "the queue emptied")


def test_stopping_during_a_sweep_that_read_a_webhook_still_stops(running: Running) -> None:
    """Stopping mid-sweep, after a webhook was read between its pages, ends the sweep at its
    next page and releases the system's lease in time."""
    person = sweep_held(running)
    unsubscribe_with_webhook(running, person)
    wait_for(lambda: bool(runs(running.store, "webhook")), 20, "the webhook run")
    assert running.daemon.stop(10)
    (sweep,) = runs(running.store, "sweep")
    assert sweep.error == "stopped by shutdown after a committed page"
    with running.store.engine.connect() as connection:
        held = connection.exec_driver_sql(
            "SELECT name FROM leases WHERE acquired_by = ?", (running.daemon.leases.holder,)
        ).all()
    assert held == []
