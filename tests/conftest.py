"""Shared fixtures: a fresh, empty database per test on SQLite and on PostgreSQL, and a store.

PostgreSQL runs at 127.0.0.1:5432 (user postgres, trust auth). The session creates one database
with a random name and drops it at the end; each test gets its own schema inside it.
Deselect the PostgreSQL half with `-m "not postgres"`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade

PG_ADDRESS = "postgres@127.0.0.1:5432"


def _pg_admin(database: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"postgresql://{PG_ADDRESS}/{database}", autocommit=True)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"consent_sync_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = _pg_admin("postgres")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADDRESS}: {exc}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with _pg_admin("postgres") as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of an empty database: a real SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'consent-sync.db'}"
        return
    database: str = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _pg_admin(database) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield f"postgresql+psycopg://{PG_ADDRESS}/{database}?options=-csearch_path%3D{schema}"
    with _pg_admin(database) as admin:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def migrated_db_url(db_url: str) -> str:
    """`db_url` upgraded to the newest schema."""
    engine = create_store_engine(db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return db_url


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    """A store on a freshly migrated database."""
    with Store.open(migrated_db_url) as opened:
        yield opened
