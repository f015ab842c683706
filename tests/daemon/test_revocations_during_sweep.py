"""A revocation owed to a system during a long sweep of it: the sweep writes it between its pages,
as a push run of its own, so it reaches that system before the sweep ends; the sweep's own copy
of the record, taken before the write, then neither re-decides it nor reads as drift."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consent_sync.connectors.protocol import Connector
from consent_sync.daemon.scheduler import SyncScheduler
from consent_sync.domain.records import Page
from consent_sync.store import Store, WebhookNotice
from consent_sync.store.tables import SyncRunRow
from support.convergence import shared_granted_people
from support.daemon import Harness
from support.held_pulls import Held, backfilled, daemon_with
from support.sandboxes import MARKETING
from support.waiting import wait_for

BULK_THRESHOLD = 10  # every full read of Contacts is a Bulk API 2.0 query job


class HeldSnapshot(Held):
    """The Salesforce connector, whose next full read of Contacts, once `hold()` is called, runs
    its query job to the end at once (its pages hold the records as they were then, as a real
    job's do) and hands them over only after `release()`, empty pages (each committed and
    checkpointed) coming meanwhile: a sweep whose pages are as old as the test needs."""

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        if since is not None or object_type != "Contact" or not self.take_hold():
            yield from self._inner.pull(object_type, since)
            return
        snapshot = list(self._inner.pull(object_type, since))
        self.held.set()
        while self.waiting():
            yield Page([], None)
        yield from snapshot


@dataclass
class Running:
    harness: Harness
    store: Store
    daemon: SyncScheduler
    salesforce: HeldSnapshot


@pytest.fixture
def running(tmp_path: Path, sqlite_url: str) -> Iterator[Running]:
    wrapped: list[HeldSnapshot] = []

    def wrap(built: dict[str, Connector]) -> dict[str, Connector]:
        built["salesforce"].settings.bulk_threshold = BULK_THRESHOLD  # type: ignore[attr-defined]
        wrapped.append(HeldSnapshot(built["salesforce"]))
        return {**built, "salesforce": wrapped[0]}

    with daemon_with(tmp_path, sqlite_url, wrap) as daemon:
        yield Running(daemon.harness, daemon.store, daemon.scheduler, wrapped[0])


def runs(store: Store, kind: str) -> list[SyncRunRow]:
    """Salesforce's runs of one kind, newest first."""
    return [r for r in store.views.recent_runs("salesforce", 50) if r.kind == kind]


def a_contact_person(store: Store) -> str:
    """A person granted in both CRMs whose Salesforce records are all Contacts."""
    for person in shared_granted_people(store, 50):
        links = store.views.subject(person).links
        if {link.object_type for link in links if link.system == "salesforce"} == {"Contact"}:
            return person
    raise AssertionError("no shared person held by Salesforce Contacts only")


def opted_out_in_salesforce(running: Running, person: str) -> bool:
    records = running.harness.salesforce_records(person)
    return bool(records) and all(r["HasOptedOutOfEmail"] is True for r in records)


def test_a_revocation_during_a_sweep_is_written_before_the_sweep_ends_and_stands(
    running: Running,
) -> None:
    """A HubSpot unsubscribe reaches Salesforce while a Salesforce sweep is held, as a push run
    of its own; the sweep's older copy of the contact, handed over after, opens no drift or
    other conflict, decides nothing and is not written again."""
    wait_for(lambda: backfilled(running.store), 60, "the backfill")
    person = a_contact_person(running.store)
    running.salesforce.hold()
    job = running.daemon.scheduler.get_job("sweep:salesforce")
    assert job is not None
    job.modify(next_run_time=datetime.now(UTC))
    wait_for(running.salesforce.held.is_set, 30, "the sweep's snapshot")
    assert not opted_out_in_salesforce(running, person)  # the snapshot holds them subscribed

    contact_id = str(running.harness.hubspot_contact(person)["id"])
    running.harness.act(
        "hubspot", {"action": "unsubscribe", "email": person, "subscription_id": MARKETING}
    )
    running.daemon.read_now("hubspot", [WebhookNotice("contacts", contact_id, False)])
    wait_for(lambda: opted_out_in_salesforce(running, person), 20, "the opt-out in Salesforce")
    (sweep,) = runs(running.store, "sweep")
    assert sweep.finished_at is None  # held: it cannot have finished
    wait_for(lambda: not running.store.views.subject(person).pending, 10, "the write settled")
    (push,) = [r for r in runs(running.store, "push") if r.started_at > sweep.started_at]
    assert push.error is None and push.counts["writes_ok"] >= 1
    before = running.store.views.subject(person)
    conflicts = list(running.store.views.conflicts())

    running.salesforce.release()
    wait_for(lambda: runs(running.store, "sweep")[0].finished_at is not None, 60, "the sweep")
    (sweep,) = runs(running.store, "sweep")
    assert sweep.error is None
    assert sweep.counts["decisions"] == 0 and sweep.counts["writes_ok"] == 0
    assert not any(name.startswith("conflicts.") for name in sweep.counts)
    after = running.store.views.subject(person)
    assert after.timeline == before.timeline  # decided nothing
    assert after.deliveries == before.deliveries and not after.pending  # written once
    assert [state.status for state in after.states if state.purpose == "email_marketing"] == [
        "denied"
    ]
    assert list(running.store.views.conflicts()) == conflicts
    assert opted_out_in_salesforce(running, person)
