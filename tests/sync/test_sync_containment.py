"""Containment: a CRM value that will not parse is that record's `unparseable` conflict; the rest
of the page, the cycle and the push go on, and a pending revocation still lands. Over real HTTP:
the sandboxes serve the malformed values (`/_sandbox/garble`), the official clients read them."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.retry import RetryPolicy
from consent_sync.domain.model import Evidence, Observation, Status, TimeKind
from consent_sync.store import Store
from consent_sync.sync.engine import SyncEngine
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from consent_sync_sandbox.seed import iter_people
from support.databases import migrate
from support.paths import CONSENT_SYNC, REPO
from support.sandboxes import MARKETING, sandbox_control

FAST = RetryPolicy(attempts=3, max_elapsed=10, initial_wait=0.01, max_wait=0.05)
CONTACTS, SEED = 120, 7
BAD_STAMP = "2026-13-45"


@dataclass
class World:
    sandbox: RunningSandbox
    store: Store
    engine: SyncEngine
    url: str

    def control(self, system: str) -> httpx.Client:
        return sandbox_control(self.sandbox, system)

    def act(self, system: str, body: dict[str, Any]) -> None:
        """Someone changes a record in the CRM's own UI."""
        with self.control(system) as client:
            client.post("/_sandbox/act", json=body).raise_for_status()

    def garble(self, system: str, body: dict[str, Any]) -> None:
        """The CRM starts answering some of a record's values as what they cannot be."""
        with self.control(system) as client:
            client.put("/_sandbox/garble", json=body).raise_for_status()

    def shared_people(self, n: int, avoid: tuple[str, ...] = ("denied",)) -> list[str]:
        """`n` people linked in both CRMs whose email marketing is in none of `avoid`."""
        found = []
        for person in iter_people("salesforce", CONTACTS, SEED, 0.8):
            if not person.shared:
                continue
            view = self.store.views.subject(person.email)
            state = {s.purpose: s.status for s in view.states}
            linked = {link.system for link in view.links} == {"salesforce", "hubspot"}
            if linked and state.get("email_marketing") not in avoid:
                found.append(view.subject.email)
            if len(found) == n:
                return found
        raise AssertionError(f"fewer than {n} people linked in both CRMs")

    def hubspot_contact(self, email: str) -> dict[str, Any]:
        with self.control("hubspot") as hs:
            contact: dict[str, Any] = hs.get("/_sandbox/contacts", params={"email": email}).json()
        return contact

    def sf_contact(self, email: str) -> dict[str, Any]:
        with self.control("salesforce") as sf:
            records = sf.get("/_sandbox/records", params={"email": email}).json()
        (live,) = [r for r in records if not r["IsDeleted"]]
        return dict(live)

    def canonical(self, email: str, purpose: str) -> str:
        view = self.store.views.subject(email)
        return next(s.status for s in view.states if s.purpose == purpose)

    def unparseable(self) -> list[Any]:
        return [c for c in self.store.views.conflicts(open_only=True) if c.kind == "unparseable"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sandbox = start_sandbox(tmp_path / "sandbox", contacts=CONTACTS, seed=SEED)
    url = migrate(f"sqlite:///{tmp_path / 'store.db'}")
    config = load_config(REPO, env=sandbox.env)
    connectors = {
        name: build_connector(config.connectors[name], config.mappings[name], retry=FAST)
        for name in config.connectors
    }
    store = Store.open(url)
    world = World(sandbox, store, SyncEngine(store, config, connectors), url)
    for _ in range(2):
        for system in ("hubspot", "salesforce"):
            world.engine.cycle(system)
    try:
        yield world
    finally:
        store.close()
        for connector in connectors.values():
            connector.close()
        sandbox.stop()


def test_a_malformed_hubspot_status_spoils_one_record_and_the_denials_still_land(
    world: World,
) -> None:
    """A v4 status with timestamp 2026-13-45 is a conflict on that contact; the other contacts
    of the page sync, and pending denials are written, the broken contact's own included."""
    pending, broken, other = world.shared_people(3)
    for email in (pending, broken):  # denials decided in Salesforce, owed to HubSpot
        world.act("salesforce", {"email": email, "fields": {"HasOptedOutOfEmail": True}})
    world.engine.cycle("salesforce", push=False)
    world.garble(
        "hubspot",
        {"email": broken, "subscription_id": MARKETING, "values": {"timestamp": BAD_STAMP}},
    )
    world.act("hubspot", {"action": "edit", "email": broken, "properties": {"firstname": "Ed"}})
    world.act("hubspot", {"action": "unsubscribe", "email": other, "subscription_id": MARKETING})

    report = world.engine.cycle("hubspot")

    assert report.error is None
    assert report.unreadable >= 1
    assert world.canonical(other, "email_marketing") == "denied"  # the page went on
    for email in (pending, broken):  # so did the push, read-back and all
        assert world.hubspot_contact(email)["subscriptions"][str(MARKETING)]["status"] == (
            "UNSUBSCRIBED"
        )
    broken_id = world.hubspot_contact(broken)["id"]
    (conflict,) = [c for c in world.unparseable() if c.link == f"hubspot/contacts/{broken_id}"]
    assert conflict.purpose == "email_marketing"
    assert conflict.severity == "needs_review"
    assert conflict.detail["raw"] == BAD_STAMP  # kept for on-call
    assert BAD_STAMP not in conflict.message  # listings show the message, not the value
    (run,) = world.store.views.recent_runs("hubspot", 1)
    assert run.error is None and run.counts["unreadable"] >= 1


def test_a_broken_hubspot_record_holds_back_only_its_own_grant(world: World) -> None:
    """A grant owed to a contact whose status cannot be read back is not written over it (it may
    hide a revocation); it waits, while a denial owed to a healthy contact lands."""
    (granted,) = world.shared_people(1, avoid=("denied", "granted"))
    (healthy,) = [p for p in world.shared_people(2) if p != granted][:1]
    world.garble(
        "hubspot",
        {"email": granted, "subscription_id": MARKETING, "values": {"status": "MAYBE"}},
    )
    before = world.hubspot_contact(granted)["subscriptions"].get(str(MARKETING))
    now = datetime.now(UTC)
    proof = Evidence("manual:ops", legal_basis="consent", note="asked on the phone, said yes")
    grant = Observation(
        "manual:ops", None, "email_marketing", Status.GRANTED, now, TimeKind.ASSERTED, proof
    )
    world.store.decisions.record(
        granted, grant, world.engine.config.purposes, now, world.engine.targets
    )
    world.act("salesforce", {"email": healthy, "fields": {"HasOptedOutOfEmail": True}})
    world.engine.cycle("salesforce", push=False)

    report = world.engine.cycle("hubspot")

    assert report.error is None
    assert world.hubspot_contact(healthy)["subscriptions"][str(MARKETING)]["status"] == (
        "UNSUBSCRIBED"
    )
    assert world.hubspot_contact(granted)["subscriptions"].get(str(MARKETING)) == before
    waiting = [
        w for w in world.store.views.subject(granted).pending if w.purpose == "email_marketing"
    ]
    assert waiting and "could not be read back" in (waiting[0].last_error or "")


@pytest.mark.parametrize(
    "garbled",
    [
        pytest.param({"SystemModstamp": f"{BAD_STAMP}T00:00:00.000+0000"}, id="date"),
        pytest.param({"IsDeleted": "false"}, id="boolean"),
    ],
)
def test_a_malformed_salesforce_record_spoils_one_record_and_the_denials_still_land(
    world: World, garbled: dict[str, Any]
) -> None:
    """A Contact whose SystemModstamp or IsDeleted will not parse is a conflict on that record
    (never a deletion); the rest of the page syncs and pending denials reach Salesforce."""
    pending, broken, other = world.shared_people(3)
    for email in (pending, broken):  # denials decided in HubSpot, owed to Salesforce
        world.act(
            "hubspot", {"action": "unsubscribe", "email": email, "subscription_id": MARKETING}
        )
    world.engine.cycle("hubspot", push=False)
    broken_id = world.sf_contact(broken)["Id"]
    world.garble("salesforce", {"id": broken_id, "fields": garbled})
    world.act("salesforce", {"id": broken_id, "fields": {"DoNotCall": True}})
    world.act("salesforce", {"email": other, "fields": {"HasOptedOutOfEmail": True}})

    report = world.engine.cycle("salesforce")

    assert report.error is None
    assert report.unreadable >= 1
    assert world.canonical(other, "email_marketing") == "denied"
    for email in (pending, broken):
        assert world.sf_contact(email)["HasOptedOutOfEmail"] is True
    assert world.canonical(broken, "phone_calls") != "denied"  # nothing was read from it
    mine = [c for c in world.unparseable() if c.link == f"salesforce/Contact/{broken_id}"]
    assert {c.purpose for c in mine} >= {"email_marketing", "phone_calls"}
    assert all(c.detail["raw"] == next(iter(garbled.values())) for c in mine)
    links = world.store.views.subject(broken).links
    assert any(link.system == "salesforce" and link.active for link in links)  # not deleted


def test_sync_prints_its_summary_with_the_unreadable_count(world: World) -> None:
    """`consent-sync sync` meeting a malformed status prints its summary and exits 0, as it does
    for rejected records: no traceback, and the malformed value never reaches the terminal."""
    (broken,) = world.shared_people(1)
    world.garble(
        "hubspot",
        {"email": broken, "subscription_id": MARKETING, "values": {"timestamp": BAD_STAMP}},
    )
    world.act("hubspot", {"action": "edit", "email": broken, "properties": {"firstname": "Ed"}})
    env = {
        **os.environ,
        **world.sandbox.env,
        "CONSENT_SYNC_DATABASE_URL": world.url,
        "CONSENT_SYNC_CONFIG": str(REPO),
    }
    done = subprocess.run(
        [CONSENT_SYNC, "sync"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(r"^hubspot: .* [1-9]\d* unreadable,", done.stdout, re.M), done.stdout
    assert BAD_STAMP not in done.stdout + done.stderr
