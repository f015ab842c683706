"""The sync cycle under the sandboxes' faults: every revocation still lands, nothing is lost,
retries stay bounded, and permanent rejections are dead-lettered with a conflict."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import ConnectorError
from consent_sync.connectors.retry import RetryPolicy
from consent_sync.store import Store
from consent_sync.sync.engine import SyncEngine
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from consent_sync_sandbox.seed import iter_people
from support.databases import migrate
from support.paths import REPO
from support.sandboxes import MARKETING, sandbox_control

FAST = RetryPolicy(attempts=4, max_elapsed=20, initial_wait=0.01, max_wait=0.05)
COMPOSITE = r"/composite/sobjects"
CONTACTS, SEED = 150, 5


class Clock:
    """The engine's clock, which a test can move forward to make retries due."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class World:
    sandbox: RunningSandbox
    store: Store
    engine: SyncEngine
    clock: Clock

    def control(self, system: str) -> httpx.Client:
        """An HTTP client for one of the sandbox's emulators."""
        return sandbox_control(self.sandbox, system)

    def sf_records(self, email: str) -> list[dict[str, Any]]:
        with self.control("salesforce") as sf:
            records: list[dict[str, Any]] = sf.get(
                "/_sandbox/records", params={"email": email}
            ).json()
        return [r for r in records if not r["IsDeleted"]]

    def faults(self, system: str, config: dict[str, Any]) -> None:
        with self.control(system) as client:
            client.put("/_sandbox/faults", json=config).raise_for_status()

    def sf_requests(self) -> int:
        with self.control("salesforce") as sf:
            return int(sf.get("/_sandbox/stats").json()["total"])

    def settle(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            for system in ("hubspot", "salesforce"):
                self.engine.cycle(system)

    def unsubscribe_in_hubspot(self) -> str:
        """A person granted in both CRMs unsubscribes in HubSpot; returns their email."""
        email = self.granted_in_both()
        with self.control("hubspot") as hs:
            hs.post(
                "/_sandbox/act",
                json={"action": "unsubscribe", "email": email, "subscription_id": MARKETING},
            ).raise_for_status()
        return email

    def granted_in_both(self) -> str:
        for person in iter_people("salesforce", CONTACTS, SEED, 0.8):
            if not person.shared:
                continue
            view = self.store.views.subject(person.email)
            state = {s.purpose: s.status for s in view.states}
            systems = {link.system for link in view.links}
            if systems == {"salesforce", "hubspot"} and state["email_marketing"] == "granted":
                return view.subject.email
        raise AssertionError("nobody is granted in both CRMs")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sandbox = start_sandbox(tmp_path / "sandbox", contacts=CONTACTS, seed=SEED)
    url = migrate(f"sqlite:///{tmp_path / 'store.db'}")
    config = load_config(REPO, env=sandbox.env)
    connectors = {
        name: build_connector(config.connectors[name], config.mappings[name], retry=FAST)
        for name in config.connectors
    }
    clock = Clock()
    store = Store.open(url)
    world = World(sandbox, store, SyncEngine(store, config, connectors, clock=clock), clock)
    world.settle(2)
    try:
        yield world
    finally:
        store.close()
        for connector in connectors.values():
            connector.close()
        sandbox.stop()


def _revocation_lands(world: World, email: str) -> None:
    assert world.sf_records(email)
    assert all(r["HasOptedOutOfEmail"] is True for r in world.sf_records(email))
    assert world.store.views.verify_ledger().ok


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(
            {"rules": [{"path": COMPOSITE, "status": 429, "retry_after": "0", "times": 2}]},
            id="429-storm-with-retry-after",
        ),
        pytest.param({"rules": [{"path": COMPOSITE, "status": 503, "times": 2}]}, id="503"),
        pytest.param({"rules": [{"path": COMPOSITE, "status": 500, "times": 1}]}, id="500"),
        pytest.param({"rules": [{"path": "/query", "kind": "drop", "times": 2}]}, id="dropped"),
        pytest.param(
            {"rules": [{"path": "/query", "kind": "malformed", "times": 2}]}, id="malformed"
        ),
        pytest.param({"expire_tokens": True}, id="expired-token"),
    ],
)
def test_revocation_lands_through_transient_faults(world: World, fault: dict[str, Any]) -> None:
    """Transient faults are retried within bounds and the revocation still reaches Salesforce."""
    email = world.unsubscribe_in_hubspot()
    world.engine.cycle("hubspot")
    world.faults("salesforce", fault)
    before = world.sf_requests()
    world.engine.cycle("salesforce")
    assert world.sf_requests() - before <= 20, "retries must stay bounded"
    world.faults("salesforce", {})
    _revocation_lands(world, email)


def test_exhausted_retries_keep_the_write_for_later(world: World) -> None:
    """A write failing past the retry budget stays queued and lands once the CRM recovers."""
    email = world.unsubscribe_in_hubspot()
    world.engine.cycle("hubspot")
    world.faults("salesforce", {"rules": [{"path": COMPOSITE, "status": 503}]})
    report = world.engine.cycle("salesforce")
    assert report.writes_retry >= 1
    assert not all(r["HasOptedOutOfEmail"] is True for r in world.sf_records(email))
    world.faults("salesforce", {})
    world.clock.offset = timedelta(hours=2)  # the retry is due
    report = world.engine.cycle("salesforce")
    assert report.writes_ok >= 1
    _revocation_lands(world, email)


def test_row_lock_on_one_record_is_retried(world: World) -> None:
    """A per-record UNABLE_TO_LOCK_ROW in a composite batch retries that record only."""
    email = world.unsubscribe_in_hubspot()
    world.engine.cycle("hubspot")
    (record,) = world.sf_records(email)
    world.faults("salesforce", {"batch_failure_ids": [record["Id"]]})
    report = world.engine.cycle("salesforce")
    assert report.writes_retry >= 1
    world.faults("salesforce", {})
    world.clock.offset = timedelta(hours=2)
    world.engine.cycle("salesforce")
    _revocation_lands(world, email)


def test_quota_exhaustion_defers_and_loses_nothing(world: World) -> None:
    """Out of daily API quota: the cycle stops without retry storms; the write lands later."""
    email = world.unsubscribe_in_hubspot()
    world.engine.cycle("hubspot")
    with world.control("salesforce") as sf:
        usage = sf.get("/_sandbox/api-usage").json()
        sf.put("/_sandbox/api-usage", json={**usage, "used": usage["daily_limit"]})
    before = world.sf_requests()
    with pytest.raises(ConnectorError, match="REQUEST_LIMIT_EXCEEDED"):
        world.engine.cycle("salesforce")
    assert world.sf_requests() - before <= 2, "quota exhaustion must not be retried"
    with world.control("salesforce") as sf:
        sf.put("/_sandbox/api-usage", json={**usage, "used": 0})
    world.engine.cycle("salesforce")
    _revocation_lands(world, email)


def test_permanent_rejection_is_dead_lettered_with_a_conflict(world: World) -> None:
    """A write the CRM refuses for good becomes a push_rejected conflict, not a retry loop."""
    email = world.unsubscribe_in_hubspot()
    world.engine.cycle("hubspot")
    world.faults(
        "salesforce",
        {
            "rules": [
                {
                    "path": COMPOSITE,
                    "status": 200,
                    "body": [
                        {
                            "id": r["Id"],
                            "success": False,
                            "errors": [
                                {
                                    "statusCode": "FIELD_INTEGRITY_EXCEPTION",
                                    "message": "Email Opt Out is locked by a validation rule",
                                    "fields": ["HasOptedOutOfEmail"],
                                }
                            ],
                        }
                        for r in world.sf_records(email)
                    ],
                }
            ]
        },
    )
    report = world.engine.cycle("salesforce")
    assert report.writes_dead >= 1
    rejected = [c for c in world.store.views.conflicts(open_only=True) if c.kind == "push_rejected"]
    assert any("FIELD_INTEGRITY_EXCEPTION" in (c.message + str(c.detail)) for c in rejected)
