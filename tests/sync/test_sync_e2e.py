"""One sync cycle end to end: both sandboxes over HTTPS, the official clients, the repository's
own connectors/ and mappings/, the engine and a real SQLite store.

The tests run in order on one world: a backfill, then a person unsubscribing in HubSpot, then a
rep trying to tick consent back on in Salesforce.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.domain.mapping import observe, targets
from consent_sync.domain.model import Status
from consent_sync.store import Store
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.databases import migrate
from support.paths import REPO
from support.sandboxes import MARKETING, sandbox_control

CONTACTS = 800


@dataclass
class World:
    sandbox: RunningSandbox
    config: DeploymentConfig
    connectors: dict[str, Connector]
    store: Store
    engine: SyncEngine

    def cycle(self, system: str) -> CycleReport:
        return self.engine.cycle(system)

    def control(self, system: str) -> httpx.Client:
        """An HTTP client for one of the sandbox's emulators (httpx's default 5 s timeout)."""
        return sandbox_control(self.sandbox, system, timeout=5)

    def crm_statuses(
        self, system: str, only: str | None = None
    ) -> dict[tuple[str, str], set[Status]]:
        """What each system holds, per (email, purpose), read through the connector (`only`:
        from one object type)."""
        out: dict[tuple[str, str], set[Status]] = {}
        connector = self.connectors[system]
        for object_type, mapping in self.config.mappings[system].objects.items():
            if only is not None and object_type != only:
                continue
            for page in connector.pull(object_type, None):
                for record in page.records:
                    mapped = observe(system, mapping, record, record.modified_at)
                    if mapped.keys.email is None or record.deleted:
                        continue
                    for o in mapped.observations:
                        out.setdefault((mapped.keys.email, o.purpose), set()).add(o.status)
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("e2e")
    sandbox = start_sandbox(root / "sandbox", contacts=CONTACTS, seed=11)
    url = migrate(f"sqlite:///{root / 'consent-sync.db'}")
    config = load_config(REPO, env=sandbox.env)
    connectors = {
        name: build_connector(config.connectors[name], config.mappings[name])
        for name in config.connectors
    }
    store = Store.open(url)
    try:
        yield World(sandbox, config, connectors, store, SyncEngine(store, config, connectors))
    finally:
        store.close()
        for connector in connectors.values():
            connector.close()
        sandbox.stop()


def test_backfill_converges_both_crms(world: World) -> None:
    """After a backfill every shared person holds the canonical value in both CRMs, as each
    CRM's fields can say it (an unticked box for a grant; nothing a subscription cannot hold)."""
    for _ in range(2):
        for system in ("salesforce", "hubspot"):
            world.cycle(system)
    held_as = targets(world.config.mappings)
    objects = [(s, o) for s in ("salesforce", "hubspot") for o in world.config.mappings[s].objects]
    per_object = {(s, o): world.crm_statuses(s, only=o) for s, o in objects}
    seen = {system: world.crm_statuses(system) for system in ("salesforce", "hubspot")}
    shared = {key for key in seen["salesforce"] if key in seen["hubspot"]}
    assert len({email for email, _ in shared}) > CONTACTS // 2
    mismatched = []
    for email, purpose in sorted(shared):
        state = {s.purpose: s.status for s in world.store.views.subject(email).states}
        canonical = Status(state.get(purpose, "unknown"))
        if canonical is Status.UNKNOWN:
            continue
        # Each record holds the canonical value as its object's field can say it.
        for (system, object_type), values in per_object.items():
            expected = held_as.get((system, object_type, purpose), {}).get(canonical)
            held = values.get((email, purpose))
            if expected is not None and held is not None and held != {expected}:
                mismatched.append((system, object_type, email, purpose, canonical, held))
    assert mismatched == []
    granted = [
        k for k in shared if k[1] == "email_marketing" and seen["hubspot"][k] == {Status.GRANTED}
    ]
    assert granted, "the seed has explicit HubSpot opt-ins"
    boxes = per_object[("salesforce", "Contact")]
    assert [
        k for k in granted if boxes.get(k, {Status.NOT_OPTED_OUT}) != {Status.NOT_OPTED_OUT}
    ] == []


def test_second_cycle_writes_nothing(world: World) -> None:
    """I3: once converged, a cycle makes no decisions and no writes."""
    for system in ("salesforce", "hubspot"):
        report = world.cycle(system)
        assert report.decisions == 0, report
        assert report.writes_ok == 0, report


def _granted_shared_person(world: World) -> str:
    """A shared person who opted in to marketing email in HubSpot (Salesforce: box unticked)."""
    sf = world.crm_statuses("salesforce")
    hs = world.crm_statuses("hubspot")
    for (email, purpose), held in sorted(hs.items()):
        opted_in = held == {Status.GRANTED} and sf.get((email, purpose)) == {Status.NOT_OPTED_OUT}
        if purpose == "email_marketing" and opted_in:
            return email
    raise AssertionError("no shared person who opted in to marketing email in HubSpot")


@pytest.fixture(scope="module")
def person(world: World) -> str:
    return _granted_shared_person(world)


def test_hubspot_unsubscribe_reaches_salesforce(world: World, person: str) -> None:
    """A footer unsubscribe in HubSpot is in Salesforce after one cycle each, with evidence."""
    with world.control("hubspot") as hs:
        acted = hs.post(
            "/_sandbox/act",
            json={"action": "unsubscribe", "email": person, "subscription_id": MARKETING},
        )
        assert acted.status_code == 200, acted.text
    world.cycle("hubspot")
    world.cycle("salesforce")
    with world.control("salesforce") as sf:
        records = sf.get("/_sandbox/records", params={"email": person}).json()
    assert records
    assert all(r["HasOptedOutOfEmail"] is True for r in records if not r["IsDeleted"])
    timeline = world.store.views.subject(person).timeline
    revocation = [r for r in timeline if r.purpose == "email_marketing"][-1]
    assert revocation.status == "denied"
    assert revocation.source == "hubspot"
    assert revocation.time_kind == "field"  # the subscription's own timestamp
    assert revocation.evidence["source_record"].startswith("hubspot/contacts/")


def test_rep_unticking_the_opt_out_in_salesforce_is_blocked(world: World, person: str) -> None:
    """A rep unticking "Email Opt Out" is no opt-in: grant_blocked, and the box is ticked again."""
    with world.control("salesforce") as sf:
        acted = sf.post(
            "/_sandbox/act",
            json={"action": "update", "email": person, "fields": {"HasOptedOutOfEmail": False}},
        )
        assert acted.status_code == 200, acted.text
    report = world.cycle("salesforce")
    assert report.conflicts["grant_blocked"] >= 1
    subject = world.store.views.subject(person)
    assert {s.purpose: s.status for s in subject.states}["email_marketing"] == "denied"
    blocked = [
        c
        for c in world.store.views.conflicts(kind=None)
        if c.kind == "grant_blocked" and c.subject_id == subject.subject.id
    ]
    assert blocked
    assert blocked[-1].rule == "revocation_wins:not_a_grant"
    assert "clearing an opt-out is not an opt-in" in blocked[-1].message
    with world.control("salesforce") as sf:
        records = sf.get("/_sandbox/records", params={"email": person}).json()
    assert all(r["HasOptedOutOfEmail"] is True for r in records if not r["IsDeleted"])
