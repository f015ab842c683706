"""A webhook during a long sweep of its system: the records it names are read between the sweep's
pages, as a webhook run of their own, so the revocation reaches the other CRM before the sweep
ends; a read that fails there leaves them queued and the sweep goes on; stopping still stops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consent_sync.connectors.protocol import Connector, TransientError
from consent_sync.daemon.scheduler import SyncScheduler
from consent_sync.domain.records import Page, Record
from consent_sync.store import Store, WebhookNotice
from consent_sync.store.tables import SyncRunRow
from support.convergence import shared_granted_people
from support.daemon import Harness
from support.held_pulls import CONTACTS, Held, backfilled, daemon_with
from support.sandboxes import MARKETING
from support.waiting import wait_for


class HeldSweep(Held):
    """The HubSpot connector, whose next full read, once `hold()` is called, keeps handing over
    empty pages after its first page (each committed and checkpointed like any other) until
    `release()`: a sweep as long as the test needs."""

    def __init__(self, inner: Connector) -> None:
        super().__init__(inner)
        self.refusing_reads = False

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        pages = iter(self._inner.pull(object_type, since))
        if since is not None or not self.take_hold():
            yield from pages
            return
        yield next(pages)
        self.held.set()
        while self.waiting():
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
    wrapped: list[HeldSweep] = []

    def wrap(built: dict[str, Connector]) -> dict[str, Connector]:
        wrapped.append(HeldSweep(built["hubspot"]))
        return {**built, "hubspot": wrapped[0]}

    with daemon_with(tmp_path, sqlite_url, wrap) as daemon:
        yield Running(daemon.harness, daemon.store, daemon.scheduler, wrapped[0])


def runs(store: Store, kind: str) -> list[SyncRunRow]:
    """HubSpot's runs of one kind, newest first."""
    return [r for r in store.views.recent_runs("hubspot", 50) if r.kind == kind]


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


def finished(found: list[SyncRunRow]) -> bool:
    """Whether any of these runs has finished (a run is recorded when it starts)."""
    return any(r.finished_at is not None for r in found)


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
    wait_for(lambda: finished(runs(running.store, "webhook")), 20, "the webhook run")
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
