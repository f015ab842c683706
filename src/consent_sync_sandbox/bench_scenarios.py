"""Benchmark pieces that need no running daemon: the reconcile core, faults, a PostgreSQL database.

The reconcile core is measured twice on the same synthetic observations (one per person and
purpose, as a first sight of a CRM record): through the rule alone (`domain.reconcile`), and
through the store's `ingest` (the rule plus resolving subjects and committing ledger, state,
shadows and outbox), in pages the size the Salesforce connector reads.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from consent_sync.config import load_config
from consent_sync.domain import Status
from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.mapping import targets
from consent_sync.domain.model import Canonical, Evidence, LinkKey, Observation, Shadow, TimeKind
from consent_sync.domain.reconcile import reconcile
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade

PAGE = 2000
PG_SERVER = "postgres@127.0.0.1:5432"
STATUSES = (Status.DENIED, Status.NOT_OPTED_OUT, Status.GRANTED, Status.NOT_OPTED_OUT)


def fault_config(seed: int = 7) -> dict[str, Any]:
    """10% of API requests answered 429 and 5% 503 (of all requests); tokens never faulted."""
    api = r"^(?!/services/oauth2)"
    return {
        "seed": seed,
        "rules": [
            {"path": api, "kind": "status", "status": 429, "rate": 0.10},
            # Rules are tried in order: 5% of all requests is 5/90 of those the 429 spared.
            {"path": api, "kind": "status", "status": 503, "rate": 0.05 / 0.90},
        ],
    }


def _observations(count: int, purposes: list[str]) -> Iterator[tuple[Observation, str]]:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(count):
        purpose = purposes[i % len(purposes)]
        status = STATUSES[(i // len(purposes)) % len(STATUSES)]
        person = i // len(purposes)
        link = LinkKey("salesforce", "Contact", f"003BENCH{person:010d}")
        evidence = Evidence(
            source="salesforce",
            source_record=str(link),
            collection_method="crm_field",
            legal_basis="consent" if status is Status.GRANTED else None,
        )
        observation = Observation(
            source="salesforce",
            link=link,
            purpose=purpose,
            status=status,
            decided_at=base + timedelta(seconds=i),
            time_kind=TimeKind.RECORD_MODIFIED,
            evidence=evidence,
        )
        yield observation, f"bench-{person}@example.test"


def reconcile_core(config_dir: Path, env: dict[str, str], work: Path, count: int) -> dict[str, Any]:
    """Observations per second through the rule, and through rule + store commit (SQLite)."""
    config = load_config(config_dir, env=env)
    purposes = sorted(config.purposes)
    generated = list(_observations(count, purposes))
    started = time.perf_counter()
    for observation, _ in generated:
        reconcile(config.purposes[observation.purpose], Canonical(), [(observation, Shadow())])
    rule_seconds = time.perf_counter() - started

    db = work / "reconcile.db"
    for stale in work.glob("reconcile.db*"):
        stale.unlink()
    url = f"sqlite:///{db}"
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    plan = targets(config.mappings)
    now = datetime.now(UTC)
    with Store.open(url) as store:
        started = time.perf_counter()
        for offset in range(0, len(generated), PAGE):
            page = generated[offset : offset + PAGE]
            observations = [o for o, _ in page]
            keys = {o.link: MatchKeys(email=email) for o, email in page if o.link is not None}
            store.decisions.ingest(observations, keys, config.purposes, now, plan)
        commit_seconds = time.perf_counter() - started
    return {
        "observations": count,
        "rule_seconds": rule_seconds,
        "rule_per_second": count / rule_seconds if rule_seconds else 0.0,
        "commit_seconds": commit_seconds,
        "commit_per_second": count / commit_seconds if commit_seconds else 0.0,
    }


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database of the benchmark's own on 127.0.0.1:5432, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"consent_sync_bench_{uuid.uuid4().hex[:10]}"
    admin = f"postgresql://{PG_SERVER}/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def store_emails(database_url: str) -> tuple[set[str], set[str]]:
    """The store's subjects' emails, and those whose marketing-email status is denied."""
    from sqlalchemy import text

    engine = create_store_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT s.email, c.status FROM subjects s LEFT JOIN consent_state c "
                    "ON c.subject_id = s.id AND c.purpose = 'email_marketing'"
                )
            ).all()
    finally:
        engine.dispose()
    known = {str(email).lower() for email, _ in rows}
    denied = {str(email).lower() for email, status in rows if status == "denied"}
    return known, denied
