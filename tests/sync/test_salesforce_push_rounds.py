"""Writes due to Salesforce leave in full composite calls: a push round claims 25 calls' worth
(`SalesforceConnector.write_batch_size`), so values due to Contacts and both consent objects
cost one partly empty call per object, not one per object for every 200 values.

Both emulators over HTTPS with the official clients, the shipped Salesforce and HubSpot
connectors and mappings, a fresh SQLite store.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import ceil
from pathlib import Path

import httpx
import pytest

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade
from consent_sync.sync import SyncEngine
from consent_sync.sync.engine import utcnow
from consent_sync_sandbox.bench_stage import bench_config
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.paths import REPO
from support.sandboxes import sandbox_control

CONTACTS = 6000
SYSTEMS = ("salesforce", "hubspot")
WRITE = "PATCH /services/data/v{version}/composite/sobjects"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    running = start_sandbox(
        tmp_path_factory.mktemp("sandbox"), contacts=CONTACTS, seed=5, only=SYSTEMS
    )
    yield running
    running.stop()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    with Store.open(url) as store:
        yield store


def test_due_writes_leave_two_hundred_records_a_call_per_object(
    sandbox: RunningSandbox, sqlite_store: Store, tmp_path: Path
) -> None:
    """After a Salesforce backfill and then HubSpot's (which queues, person by person, values
    for their Contacts and consent records), every value due to Salesforce is written in one
    push whose PATCH calls are, per object, its records ÷ 200 rounded up."""
    config = load_config(bench_config(REPO, tmp_path), env=sandbox.env)
    connectors = {n: build_connector(config.connectors[n], config.mappings[n]) for n in SYSTEMS}
    try:
        engine = SyncEngine(sqlite_store, config, connectors)
        engine.cycle("salesforce")
        engine.cycle("hubspot")
        due = sqlite_store.outbox.pending("salesforce", 100_000, utcnow())
        records: dict[str, set[str]] = {}
        for item in due:
            records.setdefault(item.link.object_type, set()).add(item.link.record_id)
        assert len(due) > 200 and len(records) >= 2, records.keys()
        with sandbox_control(sandbox, "salesforce") as control:
            control.delete("/_sandbox/stats").raise_for_status()
            report = engine.cycle("salesforce", pull=False)
            patches = _calls(control, WRITE)
    finally:
        for connector in connectors.values():
            connector.close()
    assert report.writes_ok == len(due)
    assert patches == sum(ceil(len(ids) / 200) for ids in records.values())


def _calls(control: httpx.Client, endpoint: str) -> int:
    counts = control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
    return sum(counts.values())
