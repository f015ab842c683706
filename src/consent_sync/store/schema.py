"""Schema versions: upgrade with Alembic, and refuse to work on an outdated or missing schema.

Checking the version imports no Alembic (docs/performance.md, "CLI start-up"): the database's
revision is the row Alembic keeps in `alembic_version`, read with plain SQL, and the newest
revision this version ships is the numeric prefix of the newest migration file's name
(`versions/0004_webhook_deliveries.py` is revision `0004`; tests/store/test_schema.py keeps that
equal to Alembic's own head). Only `upgrade` imports Alembic.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

from consent_sync.store.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSIONS = MIGRATIONS / "versions"
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps
UPGRADE_HINT = "run `consent-sync db upgrade`"
_REVISION_FILE = re.compile(r"(\d{4})_\w+\.py")
_CURRENT = text("SELECT version_num FROM alembic_version")


class SchemaOutdatedError(StoreError):
    """The database is not at the schema this version of consent-sync expects."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        state = "has no consent-sync schema" if current is None else f"is at schema {current}"
        super().__init__(f"the database {state}, this version needs {head}: {UPGRADE_HINT}")


def _config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


@cache
def head_revision() -> str:
    """The newest schema revision this version of consent-sync ships (from the file names)."""
    revisions = [
        found.group(1)
        for path in VERSIONS.iterdir()
        if (found := _REVISION_FILE.fullmatch(path.name)) is not None
    ]
    if not revisions:
        raise RuntimeError(f"no migrations found in {VERSIONS}")
    return max(revisions)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None when it has none."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, VERSION_TABLE):
            return None
        rows = connection.execute(_CURRENT).all()
    if len(rows) > 1:  # Alembic writes one row per branch head; consent-sync has one branch
        heads = ", ".join(sorted(str(row[0]) for row in rows))
        raise StoreError(f"the database's {VERSION_TABLE} names several revisions: {heads}")
    return str(rows[0][0]) if rows else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (the newest by default)."""
    from alembic import command

    command.upgrade(_config(engine), revision)


def ensure_current(engine: Engine) -> None:
    """Raise SchemaOutdatedError unless the database is at the newest revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdatedError(current, head)
