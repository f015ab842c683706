"""What the store commands share: opening the store and loading the configuration's purposes.

Command modules import this inside their command functions: it loads the store (SQLAlchemy),
which starting the CLI or printing help does not need; the configuration package is imported
only by the commands that read it (`purposes_from`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from consent_sync.cli.options import EXIT_USAGE, fail
from consent_sync.domain.model import Purpose
from consent_sync.store.db import URL_ENV, create_store_engine, database_url, redact_url
from consent_sync.store.errors import StoreError, UnsupportedDatabaseError
from consent_sync.store.facade import Store
from consent_sync.store.schema import SchemaOutdatedError, ensure_current

if TYPE_CHECKING:
    from consent_sync.config import ConfigError


def store_engine(url: str) -> Engine:
    """An engine for `url`; exits 2 when the URL is malformed or names an unknown driver."""
    try:
        return create_store_engine(url)
    except (ArgumentError, NoSuchModuleError, UnsupportedDatabaseError) as exc:
        raise fail(f"{URL_ENV} is not a usable database URL: {exc}", EXIT_USAGE) from None


@contextmanager
def opened_store(*, dry_run: bool = False) -> Iterator[Store]:
    """The store at `CONSENT_SYNC_DATABASE_URL`; exits 2 on an outdated schema, 1 on failures.

    `dry_run` rolls back every write transaction.
    """
    url = database_url()
    engine = store_engine(url)
    try:
        ensure_current(engine)
        store = Store(engine, dry_run=dry_run)
    except SchemaOutdatedError as exc:
        engine.dispose()
        raise fail(str(exc), EXIT_USAGE) from None
    except DBAPIError as exc:
        engine.dispose()
        raise fail(unreachable(url, exc)) from None
    with store:
        try:
            yield store
        except StoreError as exc:
            raise fail(str(exc)) from None
        except DBAPIError as exc:
            raise fail(f"database error: {first_line(exc.orig)}") from None


def unreachable(url: str, exc: DBAPIError) -> str:
    """A one-line message for a database that cannot be opened, without credentials."""
    return f"cannot use the database at {redact_url(url)}: {first_line(exc.orig)}"


def first_line(error: BaseException | None) -> str:
    """The first line of a driver error (the rest repeats SQL and parameters)."""
    return str(error).strip().splitlines()[0] if error is not None and str(error) else "unknown"


def invalid_config(exc: ConfigError, config_dir: Path) -> typer.Exit:
    """Print every configuration error as file:line: message; return the exit (2) to raise."""
    for issue in exc.errors:
        typer.echo(str(issue), err=True)
    return fail(f"invalid configuration in {config_dir}", EXIT_USAGE)


def purposes_from(config: Path | None) -> dict[str, Purpose]:
    """The purposes of the configuration directory; exits 2 listing every error if invalid."""
    from consent_sync.config import ConfigError, default_config_dir, load_purposes

    config_dir = default_config_dir(config)
    try:
        return load_purposes(config_dir)
    except ConfigError as exc:
        raise invalid_config(exc, config_dir) from None
