"""Fixtures for the daemon tests: a fresh database per test (PostgreSQL or a SQLite file)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade

PG_ADDRESS = "postgres@127.0.0.1:5432"


def _pg_admin(database: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"postgresql://{PG_ADDRESS}/{database}", autocommit=True)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of its own, dropped after the test."""
    name = f"consent_sync_daemon_{uuid.uuid4().hex[:12]}"
    with _pg_admin("postgres") as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"postgresql+psycopg://{PG_ADDRESS}/{name}"
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with _pg_admin("postgres") as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'consent-sync.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    return url
