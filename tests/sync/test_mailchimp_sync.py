"""Mailchimp in the hub, end to end: the sandboxes over HTTPS, the repository's own connectors/
and mappings/ (Mailchimp's a declarative spec), the engine and a real SQLite store.

The tests run in order on one world: a backfill; a person unsubscribing through a Mailchimp
email's link; a Salesforce rep unticking the opt-out; the person opting in again in HubSpot,
which Mailchimp cannot take; then idle cycles.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.store import Store
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync_sandbox.mailchimp.records import subscriber_hash
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from consent_sync_sandbox.seed import iter_people
from support.databases import migrate
from support.mailchimp_audience import BATCH, MEMBER, MEMBERS
from support.paths import REPO
from support.sandboxes import MARKETING, sandbox_control

CONTACTS = 400
SEED = 13
SYSTEMS = ("mailchimp", "salesforce", "hubspot")
PAGE = 1000  # the shipped spec's page size
BATCH_LIMIT = 500


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
        client = sandbox_control(self.sandbox, system, timeout=10)
        if system == "mailchimp":
            client.auth = ("consent-sync-tests", self.sandbox.env["MAILCHIMP_API_KEY"])
        return client

    def member(self, email: str) -> dict[str, Any]:
        list_id = self.sandbox.env["MAILCHIMP_LIST_ID"]
        with self.control("mailchimp") as mc:
            response = mc.get(f"/3.0/lists/{list_id}/members/{subscriber_hash(email)}")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    def members(self) -> list[dict[str, Any]]:
        list_id = self.sandbox.env["MAILCHIMP_LIST_ID"]
        with self.control("mailchimp") as mc:
            page = mc.get(f"/3.0/lists/{list_id}/members", params={"count": 1000}).json()
        assert page["total_items"] <= 1000
        found: list[dict[str, Any]] = page["members"]
        return found

    def mailchimp_calls(self, endpoint: str | None = None) -> int:
        with self.control("mailchimp") as mc:
            stats = mc.get("/_sandbox/stats").json()
        if endpoint is None:
            return int(stats["total"])
        return sum(stats["endpoints"].get(endpoint, {}).values())

    def email_state(self, email: str) -> str:
        states = {s.purpose: s.status for s in self.store.views.subject(email).states}
        return states.get("email_marketing", "unknown")

    def conflicts(self, email: str, kind: str) -> list[Any]:
        subject = self.store.views.subject(email).subject.id
        return [
            c
            for c in self.store.views.conflicts(kind=None)
            if c.kind == kind and c.subject_id == subject
        ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("mailchimp-e2e")
    sandbox = start_sandbox(root / "sandbox", contacts=CONTACTS, seed=SEED)
    url = migrate(f"sqlite:///{root / 'consent-sync.db'}")
    config = load_config(REPO, env=sandbox.env)
    connectors = {
        name: build_connector(config.connectors[name], config.mappings[name]) for name in SYSTEMS
    }
    store = Store.open(url)
    try:
        yield World(sandbox, config, connectors, store, SyncEngine(store, config, connectors))
    finally:
        store.close()
        for connector in connectors.values():
            connector.close()
        sandbox.stop()


@pytest.fixture(scope="module")
def backfill(world: World) -> dict[str, int]:
    """Two cycles of every system from an empty store; what the Mailchimp side cost."""
    with world.control("mailchimp") as mc:
        mc.delete("/_sandbox/stats")
    written = 0
    for _ in range(2):
        for system in SYSTEMS:
            report = world.cycle(system)
            assert report.error is None, report
            if system == "mailchimp":
                written += report.writes_ok + report.writes_dead + report.writes_withheld
    return {
        "calls": world.mailchimp_calls(),
        "listing": world.mailchimp_calls(MEMBERS),
        "batches": world.mailchimp_calls(BATCH),
        "reads": world.mailchimp_calls(MEMBER),
        "written": written,
    }


def test_backfill_unsubscribes_every_denial_and_subscribes_only_grants(
    world: World, backfill: dict[str, int]
) -> None:
    """After a backfill every member whose canonical state is a denial is unsubscribed, and every
    subscribed member is a canonical grant (I1, I7)."""
    members = world.members()
    assert len(members) == CONTACTS
    denied = [m for m in members if world.email_state(m["email_address"]) == "denied"]
    assert denied, "the seed has opt-outs"
    assert [m["email_address"] for m in denied if m["status"] != "unsubscribed"] == []
    subscribed = [m for m in members if m["status"] == "subscribed"]
    assert subscribed, "the seed has opt-ins nobody denied"
    assert [
        m["email_address"] for m in subscribed if world.email_state(m["email_address"]) != "granted"
    ] == []


def test_backfill_api_calls_are_pages_batches_and_grant_read_backs(
    world: World, backfill: dict[str, int]
) -> None:
    """The backfill's Mailchimp calls are its listing pages (one per 1,000 members per pull),
    batch writes, and one read-back per grant written (Mailchimp reads one member a call, so
    the spec reads back only grants; a denial cannot overwrite a revocation); nothing else."""
    pages = math.ceil(CONTACTS / PAGE)
    granted = [m for m in world.members() if world.email_state(m["email_address"]) == "granted"]
    assert backfill["written"] > 0
    assert backfill["listing"] == 2 * pages
    assert backfill["batches"] == math.ceil(backfill["written"] / BATCH_LIMIT)
    assert backfill["reads"] <= len(granted)
    assert backfill["reads"] < backfill["written"]  # denials are written without a read-back
    assert backfill["calls"] == backfill["listing"] + backfill["batches"] + backfill["reads"]


def _person(world: World) -> str:
    """A shared person everyone holds, nobody denied, with an ordinary HubSpot address."""
    for person in iter_people("salesforce", CONTACTS, SEED, 0.8):
        if (
            not (person.shared and person.email_ok and not person.disagrees)
            or person.index % 5 == 0
        ):
            continue
        if world.email_state(person.email) == "denied":
            continue
        if world.member(person.email)["status"] in ("transactional", "subscribed"):
            return person.email
    raise AssertionError("no shared person who may still be mailed")


@pytest.fixture(scope="module")
def person(world: World, backfill: dict[str, int]) -> str:
    return _person(world)


def test_mailchimp_unsubscribe_reaches_salesforce_and_hubspot(world: World, person: str) -> None:
    """A person clicking unsubscribe in a Mailchimp campaign is opted out in Salesforce and
    unsubscribed in HubSpot after one cycle each, with the reason they gave as evidence."""
    with world.control("mailchimp") as mc:
        mc.post(
            "/_sandbox/act",
            json={
                "action": "unsubscribe",
                "email": person,
                "reason": "The emails are inappropriate",
            },
        ).raise_for_status()
    for system in SYSTEMS:
        world.cycle(system)
    assert world.email_state(person) == "denied"
    with world.control("salesforce") as sf:
        records = sf.get("/_sandbox/records", params={"email": person}).json()
    assert records
    assert all(r["HasOptedOutOfEmail"] is True for r in records if not r["IsDeleted"])
    with world.control("hubspot") as hs:
        contact = hs.get("/_sandbox/contacts", params={"email": person}).json()
    assert contact["subscriptions"][str(MARKETING)]["status"] == "UNSUBSCRIBED"
    timeline = world.store.views.subject(person).timeline
    revocation = [r for r in timeline if r.purpose == "email_marketing"][-1]
    assert revocation.source == "mailchimp"
    assert revocation.evidence["note"] == "The emails are inappropriate"


def test_a_salesforce_rep_unticking_the_opt_out_does_not_resubscribe_mailchimp(
    world: World, person: str
) -> None:
    """A rep unticking "Email Opt Out" is no opt-in: grant_blocked, the box is ticked again, and
    nothing at all is written to Mailchimp, where the member stays unsubscribed."""
    with world.control("salesforce") as sf:
        sf.post(
            "/_sandbox/act",
            json={"action": "update", "email": person, "fields": {"HasOptedOutOfEmail": False}},
        ).raise_for_status()
    before = world.mailchimp_calls(BATCH)
    report = world.cycle("salesforce")
    assert report.conflicts["grant_blocked"] >= 1
    mailchimp = world.cycle("mailchimp")
    assert mailchimp.writes_ok == 0
    assert world.mailchimp_calls(BATCH) == before
    assert world.member(person)["status"] == "unsubscribed"
    assert world.email_state(person) == "denied"


def test_a_grant_mailchimp_cannot_take_is_an_info_conflict_not_a_retry_loop(
    world: World, person: str
) -> None:
    """The person opts in again in HubSpot's preference centre (a grant source, with a legal
    basis): Salesforce follows, but Mailchimp refuses to re-subscribe someone who unsubscribed
    themselves. One grant_not_representable (info) conflict says so, and later cycles do not
    try again."""
    with world.control("hubspot") as hs:
        stored = hs.get("/_sandbox/contacts", params={"email": person}).json()
        hs.headers["Authorization"] = f"Bearer {world.sandbox.env['HUBSPOT_ACCESS_TOKEN']}"
        written = hs.post(
            "/communication-preferences/v4/statuses/batch/write",
            json={
                "inputs": [
                    {
                        "subscriberIdString": stored["properties"]["email"],
                        "subscriptionId": MARKETING,
                        "statusState": "SUBSCRIBED",
                        "channel": "EMAIL",
                        "legalBasis": "CONSENT_WITH_NOTICE",
                        "legalBasisExplanation": "Opted in again on the preference centre",
                    }
                ]
            },
        )
        assert written.status_code in (200, 207), written.text
    world.cycle("hubspot")
    assert world.email_state(person) == "granted"
    report = world.cycle("mailchimp")
    assert report.conflicts["grant_not_representable"] == 1
    (conflict,) = world.conflicts(person, "grant_not_representable")
    assert conflict.severity == "info"
    assert world.member(person)["status"] == "unsubscribed"
    batches = world.mailchimp_calls(BATCH)
    for _ in range(2):
        again = world.cycle("mailchimp")
        assert (again.writes_ok, again.writes_retry, again.writes_dead) == (0, 0, 0)
    assert world.mailchimp_calls(BATCH) == batches
    assert len(world.conflicts(person, "grant_not_representable")) == 1


def test_idle_cycles_write_nothing(world: World, person: str) -> None:
    """I3: once converged, cycles make no decisions and no writes; an idle Mailchimp cycle is
    one listing call."""
    for system in SYSTEMS:
        world.cycle(system)
    for _ in range(2):
        for system in SYSTEMS:
            before = world.mailchimp_calls()
            report = world.cycle(system)
            assert (report.decisions, report.writes_ok, report.queued) == (0, 0, 0), report
            if system == "mailchimp":
                assert world.mailchimp_calls() - before == 1
