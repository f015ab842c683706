"""Throughput of `store.decisions.ingest` for a first-sight backfill on SQLite and PostgreSQL.

N people, each with a Salesforce contact and (for 3 in 4 of them) a HubSpot contact, 4 purposes
each. Salesforce is backfilled first (every record a first sight of a new subject), then HubSpot
(records join the subjects by email; about 1 value in 6 disagrees, so there are blocked grants,
applied revocations and writes queued back to Salesforce). Pages hold up to 2,000 records, as
the engine sends them. A second, quiet pass over both systems measures a resync that changes
nothing. Prints records/s per database and phase.

Usage: .venv/bin/python scripts/bench_ingest.py [N] [--sqlite-only | --postgres-only]
PostgreSQL: 127.0.0.1:5432, user postgres; a fresh database is created and dropped.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.model import (
    Evidence,
    LinkKey,
    Observation,
    Policy,
    Purpose,
    Status,
    TimeKind,
)
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade

PAGE = 2_000
PG_ADDRESS = "postgres@127.0.0.1:5432"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PURPOSES = {
    "email_marketing": Purpose("email_marketing"),
    "sms_marketing": Purpose("sms_marketing", require_evidence=True),
    "phone_calls": Purpose("phone_calls", policy=Policy.LAST_WRITER_WINS),
    "sale_or_sharing": Purpose("sale_or_sharing"),
}
Record = tuple[LinkKey, str, dict[str, Status], datetime]


def _world(n: int) -> dict[str, list[Record]]:
    rng = random.Random(42)
    statuses = [Status.GRANTED] * 5 + [Status.DENIED] * 4 + [Status.UNKNOWN]
    salesforce: list[Record] = []
    hubspot: list[Record] = []
    for i in range(n):
        email = f"person{i}@example.com"
        values = {p: rng.choice(statuses) for p in PURPOSES}
        stamp = T0 + timedelta(minutes=rng.randint(0, 100_000))
        salesforce.append((LinkKey("salesforce", "Contact", f"003{i:012d}"), email, values, stamp))
        if rng.random() < 0.75:
            theirs = {
                p: rng.choice(statuses) if rng.random() < 1 / 6 else v for p, v in values.items()
            }
            stamp = T0 + timedelta(minutes=rng.randint(0, 100_000))
            hubspot.append((LinkKey("hubspot", "contact", str(10_000 + i)), email, theirs, stamp))
    return {"salesforce": salesforce, "hubspot": hubspot}


def _pages(
    records: Sequence[Record],
) -> Iterator[tuple[list[Observation], dict[LinkKey, MatchKeys]]]:
    for start in range(0, len(records), PAGE):
        observations: list[Observation] = []
        keys: dict[LinkKey, MatchKeys] = {}
        for link, email, values, stamp in records[start : start + PAGE]:
            keys[link] = MatchKeys(email=email)
            evidence = Evidence(link.system, source_record=str(link), collection_method="crm")
            observations.extend(
                Observation(link.system, link, p, s, stamp, TimeKind.RECORD_MODIFIED, evidence)
                for p, s in values.items()
            )
        yield observations, keys


def _pass(store: Store, world: dict[str, list[Record]], label: str) -> None:
    records = sum(len(r) for r in world.values())
    decisions = queued = 0
    start = time.perf_counter()
    for system_records in world.values():
        for observations, keys in _pages(system_records):
            report = store.decisions.ingest(observations, keys, PURPOSES, datetime.now(UTC))
            decisions, queued = decisions + report.decisions, queued + report.queued
    elapsed = time.perf_counter() - start
    print(
        f"  {label:<9} {records} records in {elapsed:6.2f} s: {records / elapsed:7,.0f} records/s"
        f"  ({decisions} decisions, {queued} queued)"
    )


def _bench(url: str, world: dict[str, list[Record]]) -> None:
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    with Store.open(url) as store:
        _pass(store, world, "backfill")
        _pass(store, world, "resync")
        check = store.views.verify_ledger()
        assert check.ok, check


@contextmanager
def _postgres() -> Iterator[str]:
    name = f"consent_sync_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"postgresql://{PG_ADDRESS}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{PG_ADDRESS}/{name}"
    finally:
        with psycopg.connect(f"postgresql://{PG_ADDRESS}/postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def main(argv: Sequence[str]) -> None:
    numbers = [a for a in argv if not a.startswith("--")]
    n = int(numbers[0]) if numbers else 2_000
    world = _world(n)
    print(f"{n} people, {sum(len(r) for r in world.values())} records, 4 purposes, page {PAGE}")
    if "--postgres-only" not in argv:
        with tempfile.TemporaryDirectory() as directory:
            print("SQLite (file)")
            _bench(f"sqlite:///{Path(directory) / 'bench.db'}", world)
    if "--sqlite-only" not in argv:
        with _postgres() as url:
            print("PostgreSQL (127.0.0.1:5432)")
            _bench(url, world)


if __name__ == "__main__":
    main(sys.argv[1:])
