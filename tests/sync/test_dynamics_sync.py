"""Dynamics 365 in the hub, end to end: the four sandboxes over HTTPS, the repository's own
connectors/ and mappings/ (Dynamics' a declarative spec on the Dataverse Web API), the engine
and a real SQLite store.

The tests run in order on one world: a backfill; a person opting out of bulk email in
Dynamics; a rep unticking that box again; a Salesforce opt-out travelling to Dynamics; then
idle cycles.
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
from support.dynamics_org import BATCH, CONTACTS_LIST, TOKEN
from support.paths import REPO
from support.sandboxes import MARKETING, sandbox_control

CONTACTS = 600
SEED = 17
SYSTEMS = ("dynamics", "salesforce", "hubspot", "mailchimp")
PAGE = 5000  # connectors/dynamics.yaml: Prefer odata.maxpagesize=5000
BATCH_LIMIT = 1000  # a $batch holds at most 1,000 requests


@dataclass
class World:
    sandbox: RunningSandbox
    config: DeploymentConfig
    connectors: dict[str, Connector]
    store: Store
    engine: SyncEngine

    def cycle(self, system: str) -> CycleReport:
        report = self.engine.cycle(system)
        assert report.error is None, report
        return report

    def control(self, system: str) -> httpx.Client:
        client = sandbox_control(self.sandbox, system, timeout=10)
        if system == "mailchimp":
            client.auth = ("consent-sync-tests", self.sandbox.env["MAILCHIMP_API_KEY"])
        return client

    def dynamics(self, email: str) -> list[dict[str, Any]]:
        """Every Dynamics contact holding `email`, every column."""
        with self.control("dynamics") as dyn:
            response = dyn.get("/_sandbox/contacts", params={"email": email})
            response.raise_for_status()
            found: list[dict[str, Any]] = response.json()
            return found

    def dynamics_calls(self, endpoint: str | None = None) -> int:
        with self.control("dynamics") as dyn:
            stats = dyn.get("/_sandbox/stats").json()
        if endpoint is None:
            return int(stats["total"])
        return sum(stats["endpoints"].get(endpoint, {}).values())

    def salesforce_opted_out(self, email: str) -> list[bool]:
        with self.control("salesforce") as sf:
            records = sf.get("/_sandbox/records", params={"email": email}).json()
        return [r["HasOptedOutOfEmail"] for r in records if not r["IsDeleted"]]

    def hubspot_marketing(self, email: str) -> str:
        with self.control("hubspot") as hs:
            contact = hs.get("/_sandbox/contacts", params={"email": email}).json()
        return str(contact["subscriptions"].get(str(MARKETING), {}).get("status", "NOT_SPECIFIED"))

    def mailchimp_status(self, email: str) -> str:
        list_id = self.sandbox.env["MAILCHIMP_LIST_ID"]
        with self.control("mailchimp") as mc:
            response = mc.get(f"/3.0/lists/{list_id}/members/{subscriber_hash(email)}")
            response.raise_for_status()
            return str(response.json()["status"])

    def state(self, email: str, purpose: str = "email_marketing") -> str:
        states = {s.purpose: s.status for s in self.store.views.subject(email).states}
        return str(states.get(purpose, "unknown"))

    def round(self) -> dict[str, CycleReport]:
        return {system: self.cycle(system) for system in SYSTEMS}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("dynamics-e2e")
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
    """Two rounds of every system from an empty store; what the Dynamics side cost."""
    with world.control("dynamics") as dyn:
        dyn.delete("/_sandbox/stats")
    written = 0
    pushes_with_writes = 0
    for _ in range(2):
        for system, report in world.round().items():
            if system == "dynamics":
                attempted = report.writes_ok + report.writes_retry + report.writes_dead
                written += attempted
                pushes_with_writes += math.ceil(attempted / BATCH_LIMIT)
    return {
        "calls": world.dynamics_calls(),
        "listing": world.dynamics_calls(CONTACTS_LIST),
        "batches": world.dynamics_calls(BATCH),
        "tokens": world.dynamics_calls(TOKEN),
        "written": written,
        "minimum_batches": pushes_with_writes,
    }


def test_backfill_ticks_every_denial_and_writes_no_opt_in(
    world: World, backfill: dict[str, int]
) -> None:
    """After a backfill every Dynamics contact of a denied person has donotbulkemail ticked,
    and every unticked box belongs to someone nobody denied (I1); an unticked box was never
    read as a grant (I7)."""
    assert backfill["written"] > 0, "people opted out elsewhere reach Dynamics"
    people = list(iter_people("dynamics", CONTACTS, SEED, 0.8))
    checked = 0
    for person in people[: CONTACTS // 3]:
        contacts = world.dynamics(person.email)
        if not contacts:
            continue
        state = world.state(person.email)
        assert state != "granted" or person.shared, "Dynamics alone can never grant"
        ticked = {c["donotbulkemail"] for c in contacts}
        assert ticked == {state == "denied"}, (person.email, state, ticked)
        checked += 1
    assert checked > CONTACTS // 4


def test_backfill_api_calls_against_their_minimum(backfill: dict[str, int]) -> None:
    """The backfill's Dynamics calls: one tracked page per 5,000 contacts, one delta for the
    second pull, one $batch per push of up to 1,000 updates and one token; besides those, only
    the pusher's read-backs of the records it writes (100 ids a request)."""
    full_read = math.ceil(CONTACTS / PAGE)
    pulls = full_read + 1  # the second round follows the deltaLink
    read_backs = backfill["listing"] - pulls
    assert 0 <= read_backs <= math.ceil(backfill["written"] / 100)
    assert backfill["batches"] == backfill["minimum_batches"]
    assert backfill["tokens"] == 1
    assert backfill["calls"] == backfill["listing"] + backfill["batches"] + backfill["tokens"]


def _person(world: World, *, skip: tuple[str, ...] = ()) -> str:
    """A person all four systems hold, nobody denied, still mailable in Mailchimp."""
    for person in iter_people("salesforce", CONTACTS, SEED, 0.8):
        if not person.shared or person.disagrees or not person.email_ok or person.index % 5 == 0:
            continue
        if person.email in skip or world.state(person.email) == "denied":
            continue
        contacts = world.dynamics(person.email)
        if len(contacts) != 1 or contacts[0]["donotbulkemail"]:
            continue
        if world.mailchimp_status(person.email) in ("subscribed", "transactional"):
            return person.email
    raise AssertionError("no shared person who may still be mailed")


@pytest.fixture(scope="module")
def person(world: World, backfill: dict[str, int]) -> str:
    return _person(world)


def test_a_dynamics_opt_out_reaches_salesforce_hubspot_and_mailchimp(
    world: World, person: str
) -> None:
    """A person opting out of bulk email in Dynamics (donotbulkemail true) is opted out in
    Salesforce, unsubscribed in HubSpot and unsubscribed in Mailchimp after one round."""
    with world.control("dynamics") as dyn:
        dyn.post("/_sandbox/act", json={"action": "opt_out", "email": person}).raise_for_status()
    world.round()
    assert world.state(person) == "denied"
    revocation = [
        r for r in world.store.views.subject(person).timeline if r.purpose == "email_marketing"
    ][-1]
    assert revocation.source == "dynamics"
    assert world.salesforce_opted_out(person) and all(world.salesforce_opted_out(person))
    assert world.hubspot_marketing(person) == "UNSUBSCRIBED"
    assert world.mailchimp_status(person) == "unsubscribed"


def test_a_rep_unticking_the_box_in_dynamics_lifts_nothing(world: World, person: str) -> None:
    """A rep setting donotbulkemail back to false says "no objection", not consent: the denial
    holds everywhere and the box is ticked again."""
    contact = world.dynamics(person)[0]
    with world.control("dynamics") as dyn:
        dyn.post(
            "/_sandbox/act",
            json={
                "action": "edit",
                "id": contact["contactid"],
                "fields": {"donotbulkemail": False},
            },
        ).raise_for_status()
    for _ in range(2):
        world.round()
    assert world.state(person) == "denied"
    assert world.dynamics(person)[0]["donotbulkemail"] is True
    assert world.mailchimp_status(person) == "unsubscribed"


def test_a_salesforce_opt_out_and_do_not_call_reach_dynamics(world: World, person: str) -> None:
    """A Salesforce rep ticking Email Opt Out and Do Not Call on another person: Dynamics gets
    donotbulkemail and donotphone ticked in one $batch."""
    other = _person(world, skip=(person,))
    with world.control("salesforce") as sf:
        sf.post(
            "/_sandbox/act",
            json={
                "action": "update",
                "email": other,
                "fields": {"HasOptedOutOfEmail": True, "DoNotCall": True},
            },
        ).raise_for_status()
    before = world.dynamics_calls(BATCH)
    world.cycle("salesforce")
    report = world.cycle("dynamics")
    assert report.writes_ok >= 1
    assert world.dynamics_calls(BATCH) == before + 1
    [contact] = world.dynamics(other)
    assert (contact["donotbulkemail"], contact["donotphone"]) == (True, True)


def test_a_mailchimp_unsubscribe_reaches_dynamics(world: World, person: str) -> None:
    """A person clicking unsubscribe in a Mailchimp campaign gets donotbulkemail ticked in
    Dynamics once Mailchimp is pulled and Dynamics pushed."""
    other = _person(world, skip=(person,))
    with world.control("mailchimp") as mc:
        mc.post("/_sandbox/act", json={"action": "unsubscribe", "email": other}).raise_for_status()
    world.cycle("mailchimp")
    assert world.state(other) == "denied"
    assert world.cycle("dynamics").writes_ok >= 1
    assert [c["donotbulkemail"] for c in world.dynamics(other)] == [True]


def test_idle_cycles_write_nothing_and_cost_one_delta(world: World) -> None:
    """I3: once quiescent, no system decides or writes anything, and a Dynamics cycle costs one
    request (following its deltaLink)."""
    world.round()
    calls = world.dynamics_calls()
    for _ in range(2):
        for system, report in world.round().items():
            assert (system, report.decisions, report.writes_ok, report.queued) == (system, 0, 0, 0)
    assert world.dynamics_calls() - calls == 2
