"""A write after a pull that covered its record needs no read-back (sync/recent.py, `covered`).

The bench's backfill: Salesforce is read in full, then HubSpot, whose denials queue writes to
Salesforce; by the next Salesforce cycle the full read is minutes old. That cycle's incremental
pull asks for every change since its cursor: a record the full read returned and this pull did
not had not changed when the pull began, so the push writes it without reading it back, when
the connector promises its pulls see every change (`stamps_every_change`). Against the
sandboxes over HTTPS with the official clients; a fresh store per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.store import Store
from consent_sync.sync import SyncEngine
from consent_sync.sync.engine import utcnow
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.paths import REPO
from support.sandboxes import sandbox_control

CONTACTS = 300
QUERY = "GET /services/data/v{version}/queryAll/"  # pulls and read-backs alike
WRITE = "PATCH /services/data/v{version}/composite/sobjects"


class Clock:
    """The engine's clock, moved forward by the test (never behind the sandbox's)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


class Promising:
    """The Salesforce connector, promising (or not) that its pulls see every change."""

    def __init__(self, inner: Connector, promise: bool = True) -> None:
        self._inner = inner
        self._promise = promise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def stamps_every_change(self, object_type: str) -> bool:
        return self._promise


@pytest.fixture
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    running = start_sandbox(tmp_path_factory.mktemp("sandbox"), contacts=CONTACTS, seed=5)
    yield running
    running.stop()


@pytest.fixture
def config(sandbox: RunningSandbox) -> DeploymentConfig:
    return load_config(REPO, env=sandbox.env)


@pytest.fixture
def built(config: DeploymentConfig) -> Iterator[dict[str, Connector]]:
    connectors = {
        name: build_connector(config.connectors[name], config.mappings[name])
        for name in config.connectors
    }
    yield connectors
    for connector in connectors.values():
        connector.close()


@pytest.fixture
def salesforce(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with sandbox_control(sandbox, "salesforce") as client:
        yield client


def _calls(control: httpx.Client, endpoint: str) -> int:
    counts = control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
    return sum(counts.values())


def _backfill_then_wait(
    store: Store, config: DeploymentConfig, connectors: dict[str, Connector], clock: Clock
) -> SyncEngine:
    """Salesforce read in full, HubSpot cycled (writes due to Salesforce), then longer than
    `fresh_for` passes: the full read alone no longer stands in for a read-back."""
    engine = SyncEngine(store, config, connectors, clock=clock)
    engine.cycle("salesforce", push=False)
    engine.cycle("hubspot")
    assert store.outbox.pending("salesforce", 1000, clock()), "the seed left nothing to write"
    clock.now += engine.recent.fresh_for + timedelta(seconds=30)
    return engine


def _pull_queries(engine: SyncEngine, salesforce: httpx.Client) -> int:
    """The query calls of one more incremental Salesforce pull alone."""
    salesforce.delete("/_sandbox/stats").raise_for_status()
    engine.cycle("salesforce", push=False)
    return _calls(salesforce, QUERY)


def test_a_write_after_a_covering_pull_reads_nothing_back(
    store: Store, config: DeploymentConfig, built: dict[str, Connector], salesforce: httpx.Client
) -> None:
    """The next cycle's incremental pull covers the full read's records: its push writes them
    with the pull's queries only, and every write lands."""
    clock = Clock()
    connectors = {**built, "salesforce": Promising(built["salesforce"])}
    engine = _backfill_then_wait(store, config, connectors, clock)
    salesforce.delete("/_sandbox/stats").raise_for_status()
    report = engine.cycle("salesforce")
    assert report.writes_ok > 0
    assert store.outbox.pending("salesforce", 1000, clock.now) == []
    queries = _calls(salesforce, QUERY)
    assert queries == _pull_queries(engine, salesforce), "a covered record was read back"


def test_without_the_promise_the_same_write_is_read_back_first(
    store: Store, config: DeploymentConfig, built: dict[str, Connector], salesforce: httpx.Client
) -> None:
    """A connector that does not promise its pulls see every change gets its read-backs."""
    clock = Clock()
    connectors = {**built, "salesforce": Promising(built["salesforce"], promise=False)}
    engine = _backfill_then_wait(store, config, connectors, clock)
    salesforce.delete("/_sandbox/stats").raise_for_status()
    report = engine.cycle("salesforce")
    assert report.writes_ok > 0
    queries = _calls(salesforce, QUERY)
    assert queries > _pull_queries(engine, salesforce), "an uncovered record was not read back"


def test_a_record_the_covering_pull_could_not_parse_is_read_back(
    store: Store, config: DeploymentConfig, built: dict[str, Connector], salesforce: httpx.Client
) -> None:
    """A rep edits a Contact after the full read and Salesforce serves its IsDeleted as a
    string: the covering pull returns it unreadable, so it is not covered and the push reads it
    back first (a record it cannot read gets only a denial)."""
    clock = Clock()
    connectors = {**built, "salesforce": Promising(built["salesforce"])}
    engine = _backfill_then_wait(store, config, connectors, clock)
    due = store.outbox.pending("salesforce", 1000, clock.now)
    contact = next(i.link.record_id for i in due if i.link.object_type == "Contact")
    act = {"sobject": "Contact", "id": contact, "fields": {"FirstName": "Ada"}}
    salesforce.post("/_sandbox/act", json=act).raise_for_status()
    garble = {"id": contact, "fields": {"IsDeleted": "false"}}
    salesforce.put("/_sandbox/garble", json=garble).raise_for_status()
    salesforce.delete("/_sandbox/stats").raise_for_status()
    report = engine.cycle("salesforce")
    assert report.unreadable >= 1
    queries = _calls(salesforce, QUERY)
    assert queries > _pull_queries(engine, salesforce), "an unreadable record was not read back"
