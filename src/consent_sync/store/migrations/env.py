"""Alembic environment: configured in code by `consent_sync.store.schema`, never by an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from consent_sync.store.tables import metadata


def _run_online(engine: Engine) -> None:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("consent-sync migrations run against a live database only")
_run_online(context.config.attributes["engine"])
