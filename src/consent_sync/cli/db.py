"""`consent-sync db`: bring the database schema up to date, or say where it stands."""

from __future__ import annotations

import typer
from sqlalchemy.exc import DBAPIError

from consent_sync.cli._store import fail, store_engine, unreachable
from consent_sync.store import database_url, redact_url
from consent_sync.store.schema import UPGRADE_HINT, current_revision, head_revision, upgrade

db = typer.Typer(help="The database schema.", no_args_is_help=True)


@db.command("upgrade")
def upgrade_command() -> None:
    """Create or migrate the schema at CONSENT_SYNC_DATABASE_URL (default: ./consent-sync.db)."""
    url = database_url()
    engine = store_engine(url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    except DBAPIError as exc:
        raise fail(unreachable(url, exc)) from None
    finally:
        engine.dispose()
    where = redact_url(url)
    if before == after:
        typer.echo(f"{where}: schema already at {after}")
    else:
        typer.echo(f"{where}: schema upgraded from {before or 'nothing'} to {after}")


@db.command("current")
def current_command() -> None:
    """Print the schema revision of the database; exit 1 if it is not the newest."""
    url = database_url()
    engine = store_engine(url)
    try:
        current = current_revision(engine)
    except DBAPIError as exc:
        raise fail(unreachable(url, exc)) from None
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        typer.echo(f"{current} (newest)")
        return
    typer.echo(f"{current or 'no schema'} (newest is {head}: {UPGRADE_HINT})")
    raise typer.Exit(1)
