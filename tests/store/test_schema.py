"""Schema versions, connection settings and timestamps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from consent_sync.domain.model import Status
from consent_sync.store import SchemaOutdatedError, Store, UnsupportedDatabaseError
from consent_sync.store.db import create_store_engine, database_url
from consent_sync.store.schema import current_revision, head_revision
from consent_sync.store.types import NaiveTimestampError
from support.store_builders import EMAIL, SF, at, ingest, seen


def test_missing_schema_is_refused_with_the_upgrade_command(db_url: str) -> None:
    """Opening a database without the schema fails and names `consent-sync db upgrade`."""
    with pytest.raises(SchemaOutdatedError, match="consent-sync db upgrade") as caught:
        Store.open(db_url)
    assert caught.value.current is None


def test_outdated_schema_is_refused(migrated_db_url: str) -> None:
    """A database at another revision than this version's head is refused."""
    engine = create_store_engine(migrated_db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(SchemaOutdatedError, match="is at schema 0000") as caught:
        Store.open(migrated_db_url)
    assert caught.value.head == head_revision()


def test_upgrade_reaches_head(store: Store) -> None:
    """After the upgrade the database is at the newest revision."""
    assert current_revision(store.engine) == head_revision()


def test_default_url_is_the_sqlite_file_in_the_working_directory() -> None:
    """Without CONSENT_SYNC_DATABASE_URL the store is `consent-sync.db` here."""
    assert database_url({}) == "sqlite:///consent-sync.db"
    assert database_url({"CONSENT_SYNC_DATABASE_URL": "postgresql+psycopg://h/db"}).startswith(
        "postgresql"
    )


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL mode with a busy timeout, enforced foreign keys and
    a page cache of 16 MiB (SQLite's default is 2 MiB)."""
    engine = create_store_engine(f"sqlite:///{tmp_path}/pragmas.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -16 * 1024
    engine.dispose()


def test_timestamps_come_back_timezone_aware_utc(store: Store) -> None:
    """A decision made at +02:00 is stored and read back as the same instant in UTC."""
    observation = seen(SF, Status.DENIED, 0)
    shifted = observation.decided_at.astimezone(timezone(timedelta(hours=2)))
    ingest(store, [replace(observation, decided_at=shifted)], 1)
    (row,) = store.views.subject(EMAIL).timeline
    assert row.decided_at == at(0)
    assert row.decided_at.tzinfo is UTC
    assert row.recorded_at.tzinfo is UTC


def test_naive_timestamps_are_refused(store: Store) -> None:
    """A timestamp without a timezone never reaches the database."""
    naive = replace(seen(SF, Status.DENIED, 0), decided_at=datetime(2026, 3, 1, 12))
    with pytest.raises(NaiveTimestampError, match="has no timezone"):
        ingest(store, [naive], 1)


def test_bare_postgresql_url_uses_psycopg() -> None:
    """`postgresql://` selects psycopg 3, the driver consent-sync ships with."""
    engine = create_store_engine("postgresql://consent@db.internal/consent")
    assert engine.driver == "psycopg"
    engine.dispose()


def test_other_databases_are_refused() -> None:
    """Only SQLite and PostgreSQL are supported; anything else fails with a typed error."""
    with pytest.raises(UnsupportedDatabaseError, match="'mysql' is not supported"):
        create_store_engine("mysql://consent@db.internal/consent")


def test_the_migrations_build_every_column_the_tables_declare(store: Store) -> None:
    """What `db upgrade` builds has each table and column the code reads and writes, with the
    same nullability: a column added to a table without its migration fails here."""
    built = inspect(store.engine)
    assert SQLModel.metadata.sorted_tables
    for table in SQLModel.metadata.sorted_tables:
        columns = {c["name"]: c["nullable"] for c in built.get_columns(table.name)}
        declared = {c.name: c.nullable for c in table.columns}
        assert columns == declared, table.name
