"""Schema versions: upgrade with Alembic, and refuse to work on an outdated or missing schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from consent_sync.store.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
UPGRADE_HINT = "run `consent-sync db upgrade`"


class SchemaOutdatedError(StoreError):
    """The database is not at the schema this version of consent-sync expects."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        state = "has no consent-sync schema" if current is None else f"is at schema {current}"
        super().__init__(f"the database {state}, this version needs {head}: {UPGRADE_HINT}")


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest schema revision this version of consent-sync ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None when it has none."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (the newest by default)."""
    command.upgrade(_config(engine), revision)


def ensure_current(engine: Engine) -> None:
    """Raise SchemaOutdatedError unless the database is at the newest revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdatedError(current, head)
