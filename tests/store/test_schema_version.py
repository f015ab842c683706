"""The schema version check without Alembic agrees with Alembic.

`head_revision` reads the newest migration file's name and `current_revision` the
`alembic_version` row in plain SQL, so opening the store imports no Alembic
(docs/performance.md, "CLI start-up"). These tests keep both equal to what Alembic says.
"""

from __future__ import annotations

import re

import pytest
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from consent_sync.store import SchemaOutdatedError, Store, StoreError
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import (
    MIGRATIONS,
    VERSIONS,
    current_revision,
    ensure_current,
    head_revision,
)
from support.databases import migrate


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_the_head_from_the_file_names_is_alembics_head() -> None:
    """A new migration must be named `<revision>_<what>.py`, or this fails before any store
    would be refused (or accepted) at the wrong revision."""
    assert head_revision() == _scripts().get_current_head()


def test_every_migration_file_is_named_by_its_revision() -> None:
    """Each file's numeric prefix is the revision it declares, in one unbranched line."""
    scripts = _scripts()
    by_file = {
        script.path.rsplit("/", 1)[-1]: script.revision for script in scripts.walk_revisions()
    }
    assert by_file
    for name, revision in by_file.items():
        assert re.fullmatch(rf"{revision}_\w+\.py", name), name
    assert len(scripts.get_heads()) == 1
    migration_files = {path.name for path in VERSIONS.glob("[0-9]*.py")}
    assert migration_files == set(by_file)


@pytest.mark.parametrize("revision", ["0001", "head"])
def test_the_plain_sql_revision_is_alembics(db_url: str, revision: str) -> None:
    """At an old revision and at the head, on SQLite and PostgreSQL, both read the same row."""
    migrate(db_url, revision)
    engine = create_store_engine(db_url)
    try:
        with engine.connect() as connection:
            expected = MigrationContext.configure(connection).get_current_revision()
        assert current_revision(engine) == expected
        assert expected == ("0001" if revision == "0001" else head_revision())
    finally:
        engine.dispose()


def test_a_database_without_the_version_table_has_no_revision(db_url: str) -> None:
    """An empty database has no revision (and no failed statement spoils the transaction)."""
    engine = create_store_engine(db_url)
    try:
        assert current_revision(engine) is None
        with pytest.raises(SchemaOutdatedError, match="has no consent-sync schema"):
            ensure_current(engine)
    finally:
        engine.dispose()


def test_an_emptied_version_table_is_no_schema(migrated_db_url: str) -> None:
    """A version table without its row is refused like a missing schema."""
    engine = create_store_engine(migrated_db_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    engine.dispose()
    with pytest.raises(SchemaOutdatedError, match="has no consent-sync schema"):
        Store.open(migrated_db_url)


def test_two_version_rows_are_refused_naming_both(migrated_db_url: str) -> None:
    """Alembic keeps one row per branch head; consent-sync has one branch, so two rows mean
    someone else's migrations share the table: refused, not guessed."""
    engine = create_store_engine(migrated_db_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('ffff')"))
    engine.dispose()
    with pytest.raises(StoreError, match=f"several revisions: {head_revision()}, ffff"):
        Store.open(migrated_db_url)
