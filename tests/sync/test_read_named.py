"""Records a webhook named: read back and reconciled like pulled ones, deletions ending links."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.domain.records import Page, Record
from consent_sync.store import Store
from consent_sync.sync import CycleReport, SyncEngine
from support.config_files import OFFLINE_ENV
from support.connectors import StandInConnector
from support.paths import REPO

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class HubSpotPortal(StandInConnector):
    """A HubSpot holding some contacts; it remembers what it was asked to read. A pull hands
    over the snapshot it was given, one contact a page, as a query job would."""

    def __init__(self) -> None:
        self.contacts: dict[str, Record] = {}
        self.reads: list[tuple[str, list[str]]] = []
        self.snapshot: list[Record] = []

    def hold(
        self, record_id: str, email: str, phone_consent: bool, modified_at: datetime = NOW
    ) -> None:
        fields = {"email": email, "phone_consent": phone_consent}
        self.contacts[record_id] = Record("contacts", record_id, fields, modified_at)

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        return iter([Page([record], None) for record in self.snapshot])

    @property
    def api_calls(self) -> int:
        return len(self.reads)

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        self.reads.append((object_type, sorted(record_ids)))
        return [self.contacts[i] for i in record_ids if i in self.contacts]


@pytest.fixture
def portal() -> HubSpotPortal:
    return HubSpotPortal()


@pytest.fixture
def engine(store: Store, portal: HubSpotPortal) -> SyncEngine:
    config: DeploymentConfig = load_config(REPO, env=OFFLINE_ENV)
    return SyncEngine(store, config, {"hubspot": portal}, clock=lambda: NOW)


def test_named_records_are_read_and_reconciled(
    engine: SyncEngine, portal: HubSpotPortal, store: Store
) -> None:
    """Each named contact is read once and its consent lands in the store like a pulled one."""
    portal.hold("1", "ada@example.com", phone_consent=False)
    report = CycleReport("hubspot")
    engine.read_named("hubspot", {("contacts", "1"): False}, report)
    assert portal.reads == [("contacts", ["1"])]
    assert (report.records_read, report.decisions) == (1, 1)
    (state,) = store.views.subject("ada@example.com").states
    assert (state.purpose, state.status) == ("phone_calls", "denied")


def test_a_deletion_the_read_no_longer_finds_ends_the_link(
    engine: SyncEngine, portal: HubSpotPortal, store: Store
) -> None:
    """A record named by a deletion and gone loses its link; one merely missing keeps it."""
    portal.hold("1", "ada@example.com", phone_consent=False)
    portal.hold("2", "bob@example.com", phone_consent=False)
    engine.read_named(
        "hubspot", {("contacts", "1"): False, ("contacts", "2"): False}, CycleReport("hubspot")
    )
    portal.contacts.clear()
    report = CycleReport("hubspot")
    engine.read_named("hubspot", {("contacts", "1"): True, ("contacts", "2"): False}, report)
    assert report.links_ended == 1
    assert [link.active for link in store.views.subject("ada@example.com").links] == [False]
    assert [link.active for link in store.views.subject("bob@example.com").links] == [True]


def test_objects_the_mapping_does_not_sync_are_not_read(
    engine: SyncEngine, portal: HubSpotPortal
) -> None:
    """A webhook naming an unmapped object type costs no read."""
    report = CycleReport("hubspot")
    engine.read_named("hubspot", {("companies", "9"): False}, report)
    assert portal.reads == []
    assert report.records_read == 0


def test_a_pull_skips_its_older_copy_of_a_record_read_between_its_pages(
    store: Store, portal: HubSpotPortal
) -> None:
    """A revocation read between two pages of a pull stands: the pull's own copy of that contact,
    taken before it, neither re-decides it nor opens a conflict."""
    config: DeploymentConfig = load_config(REPO, env=OFFLINE_ENV)
    earlier = NOW - timedelta(hours=1)
    portal.hold("1", "ada@example.com", phone_consent=True, modified_at=earlier)
    portal.hold("2", "bob@example.com", phone_consent=True, modified_at=earlier)
    SyncEngine(store, config, {"hubspot": portal}, clock=lambda: NOW).read_named(
        "hubspot", {("contacts", "1"): False, ("contacts", "2"): False}, CycleReport("hubspot")
    )
    portal.snapshot = [portal.contacts["2"], portal.contacts["1"]]  # Ada on the second page
    webhook = CycleReport("hubspot")

    def between_pages(_label: str, records: int) -> None:
        if records == 1:  # Bob's page is committed; Ada revokes and a webhook names her
            portal.hold("1", "ada@example.com", phone_consent=False)
            puller.read_named("hubspot", {("contacts", "1"): False}, webhook)

    puller = SyncEngine(
        store, config, {"hubspot": portal}, clock=lambda: NOW, progress=between_pages
    )
    report = CycleReport("hubspot")
    puller.pull("hubspot", report, full=True)
    assert webhook.decisions == 1
    assert (report.records_read, report.decisions, report.queued) == (2, 0, 0)
    (state,) = store.views.subject("ada@example.com").states
    assert (state.purpose, state.status) == ("phone_calls", "denied")
    assert list(store.views.conflicts()) == []


def test_a_pull_still_takes_a_newer_copy_of_a_record_read_between_its_pages(
    store: Store, portal: HubSpotPortal
) -> None:
    """A change made after the read between pages, which the pull's copy carries, is decided."""
    config: DeploymentConfig = load_config(REPO, env=OFFLINE_ENV)
    portal.hold("1", "ada@example.com", phone_consent=True, modified_at=NOW - timedelta(hours=1))
    portal.hold("2", "bob@example.com", phone_consent=True, modified_at=NOW - timedelta(hours=1))

    def between_pages(_label: str, records: int) -> None:
        if records == 1:
            puller.read_named("hubspot", {("contacts", "1"): False}, CycleReport("hubspot"))

    puller = SyncEngine(
        store, config, {"hubspot": portal}, clock=lambda: NOW, progress=between_pages
    )
    newer = Record("contacts", "1", {"email": "ada@example.com", "phone_consent": False}, NOW)
    portal.snapshot = [portal.contacts["2"], newer]
    report = CycleReport("hubspot")
    puller.pull("hubspot", report, full=True)
    (state,) = store.views.subject("ada@example.com").states
    assert (state.purpose, state.status) == ("phone_calls", "denied")
