"""The pusher's batches against the sandboxes: settled together, read back only when needed.

Both emulators over HTTPS with the official clients, the repository's connectors/ and mappings/,
and a fresh store per test on SQLite and on PostgreSQL. A backfill of HubSpot then Salesforce
leaves writes due to Salesforce (where the two CRMs disagree) for records the Salesforce pull
has just read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.store import Store
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync.sync.engine import utcnow
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.paths import REPO
from support.sandboxes import sandbox_control

CONTACTS = 300
READ_BACK = "GET /services/data/v{version}/queryAll/"  # a read of named ids (and small pulls)
WRITE = "PATCH /services/data/v{version}/composite/sobjects"


class Clock:
    """A clock the test moves forward: how long ago the engine read a record."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    running = start_sandbox(tmp_path_factory.mktemp("sandbox"), contacts=CONTACTS, seed=5)
    yield running
    running.stop()


@pytest.fixture
def config(sandbox: RunningSandbox) -> DeploymentConfig:
    return load_config(REPO, env=sandbox.env)


@pytest.fixture
def connectors(config: DeploymentConfig) -> Iterator[dict[str, Connector]]:
    built = {
        name: build_connector(config.connectors[name], config.mappings[name])
        for name in config.connectors
    }
    yield built
    for connector in built.values():
        connector.close()


@pytest.fixture
def salesforce(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with sandbox_control(sandbox, "salesforce") as client:
        yield client


def _calls(control: httpx.Client, endpoint: str) -> int:
    counts = control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
    return sum(counts.values())


def _backfilled(
    store: Store, config: DeploymentConfig, connectors: dict[str, Connector], clock: Clock
) -> SyncEngine:
    """HubSpot cycled, then Salesforce pulled (not pushed): writes are due to Salesforce."""
    engine = SyncEngine(store, config, connectors, clock=clock)
    engine.cycle("hubspot")
    engine.cycle("salesforce", push=False)
    assert store.outbox.pending("salesforce", 1000, clock()), "the seed left nothing to write"
    return engine


def test_a_write_right_after_a_pull_of_its_records_reads_nothing_back(
    store: Store,
    config: DeploymentConfig,
    connectors: dict[str, Connector],
    salesforce: httpx.Client,
) -> None:
    """A cycle that pulls Salesforce and then writes to the records it just read makes exactly
    the pull's read calls, no read-back query; and every write is settled."""
    clock = Clock()
    engine = SyncEngine(store, config, connectors, clock=clock)
    engine.cycle("hubspot")
    salesforce.delete("/_sandbox/stats").raise_for_status()
    report = engine.cycle("salesforce", full=True)
    assert report.writes_ok > 0
    assert store.outbox.pending("salesforce", 1000, clock.now) == []
    cycle_reads, writes = _calls(salesforce, READ_BACK), _calls(salesforce, WRITE)
    assert writes > 0
    salesforce.delete("/_sandbox/stats").raise_for_status()
    engine.cycle("salesforce", full=True, push=False)  # the same pull alone
    assert cycle_reads == _calls(salesforce, READ_BACK), "the records just pulled were read back"


def test_a_write_to_a_record_the_latest_pull_did_not_read_is_read_back_first(
    store: Store,
    config: DeploymentConfig,
    connectors: dict[str, Connector],
    salesforce: httpx.Client,
) -> None:
    """Records no pull of this engine read (another replica pulled them) are read back before
    the write. (Records an earlier pull read that the latest one did not return are too:
    test_recent.py, and test_sync_containment.py's garbled HubSpot record.)"""
    clock = Clock()
    _backfilled(store, config, connectors, clock)
    salesforce.delete("/_sandbox/stats").raise_for_status()
    other = SyncEngine(store, config, connectors, clock=clock)
    report = other.cycle("salesforce", pull=False)
    assert report.writes_ok > 0
    assert _calls(salesforce, READ_BACK) > 0, "a record this engine never read was not read back"


def test_a_write_long_after_the_pull_is_read_back_first(
    store: Store,
    config: DeploymentConfig,
    connectors: dict[str, Connector],
    salesforce: httpx.Client,
) -> None:
    """A pull that began more than `fresh_for` before the write no longer stands in for the
    read-back."""
    clock = Clock()
    engine = SyncEngine(store, config, connectors, clock=clock)
    engine.cycle("hubspot")
    engine.pull("salesforce", CycleReport("salesforce"))
    clock.now += engine.recent.fresh_for + timedelta(seconds=1)
    salesforce.delete("/_sandbox/stats").raise_for_status()
    report = CycleReport("salesforce")
    engine.push("salesforce", report)
    assert report.writes_ok > 0
    assert _calls(salesforce, READ_BACK) > 0, "a read older than fresh_for counted as fresh"


def test_a_batch_with_one_refused_record_settles_the_rest(
    store: Store,
    config: DeploymentConfig,
    connectors: dict[str, Connector],
    salesforce: httpx.Client,
) -> None:
    """One record Salesforce refuses in a batch stays due (retried); every other value of the
    batch is settled in the one transaction."""
    clock = Clock()
    engine = _backfilled(store, config, connectors, clock)
    due = store.outbox.pending("salesforce", 1000, clock.now)
    refused = due[0].link.record_id
    faults = {"batch_failure_ids": [refused]}
    salesforce.put("/_sandbox/faults", json=faults).raise_for_status()
    report = engine.cycle("salesforce", pull=False)
    refused_items = [i for i in due if i.link.record_id == refused]
    assert report.writes_ok == len(due) - len(refused_items)
    assert report.writes_retry + report.writes_dead == len(refused_items)
    left = {
        i.link.record_id
        for i in store.outbox.pending("salesforce", 1000, clock.now + timedelta(days=1))
    }
    assert left == ({refused} if report.writes_retry else set())
