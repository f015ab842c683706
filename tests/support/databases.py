"""Databases for tests: a real SQLite file, or PostgreSQL at 127.0.0.1:5432 (user postgres, trust).

The session creates one PostgreSQL database with a random name and drops it at the end; each test
that asks for `db_url` gets its own schema inside it. Tests that run processes of their own get a
whole database (`pg_url`). Deselect the PostgreSQL half with `-m "not postgres"`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade

PG_ADDRESS = "postgres@127.0.0.1:5432"


def pg_admin(database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit superuser connection to `database` on the test server."""
    return psycopg.connect(f"postgresql://{PG_ADDRESS}/{database}", autocommit=True)


def postgres_url(database: str) -> str:
    """The store URL of `database` on the test server."""
    return f"postgresql+psycopg://{PG_ADDRESS}/{database}"


def postgres_up() -> bool:
    """Whether the test server accepts connections (within 2 s)."""
    try:
        with psycopg.connect(f"postgresql://{PG_ADDRESS}/postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def create_database(name: str, template: str | None = None) -> None:
    """Create database `name`, empty or as a copy of `template`."""
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    with pg_admin() as admin:
        admin.execute(statement)


def drop_database(name: str) -> None:
    """Drop database `name`, cutting any connection still open to it."""
    with pg_admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named `prefix_<random>`, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    create_database(name)
    try:
        yield name
    finally:
        drop_database(name)


def migrate(url: str, revision: str = "head") -> str:
    """Upgrade the database at `url` to `revision` (the newest by default); returns `url`."""
    engine = create_store_engine(url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"consent_sync_test_{uuid.uuid4().hex[:12]}"
    try:
        create_database(name)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADDRESS}: {exc}")
    yield name
    drop_database(name)


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
    with pg_admin(database) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield f"{postgres_url(database)}?options=-csearch_path%3D{schema}"
    with pg_admin(database) as admin:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def migrated_db_url(db_url: str) -> str:
    """`db_url` upgraded to the newest schema."""
    return migrate(db_url)


@pytest.fixture
def store(migrated_db_url: str) -> Iterator[Store]:
    """A store on a freshly migrated database."""
    with Store.open(migrated_db_url) as opened:
        yield opened


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of its own, dropped after the test."""
    with fresh_database("consent_sync_daemon") as name:
        yield migrate(postgres_url(name))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite file."""
    return migrate(f"sqlite:///{tmp_path / 'consent-sync.db'}")
