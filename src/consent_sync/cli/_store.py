"""What the store commands share: opening the store, loading purposes, parsing, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from consent_sync.config import CONFIG_ENV, ConfigError, default_config_dir, load_purposes
from consent_sync.domain.identity import IdentityError, normalize_email
from consent_sync.domain.model import Purpose
from consent_sync.store import (
    URL_ENV,
    SchemaOutdatedError,
    Store,
    StoreError,
    UnsupportedDatabaseError,
    database_url,
    redact_url,
)
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import ensure_current

EXIT_FAILURE = 1
EXIT_USAGE = 2

CONFIG_OPTION = typer.Option(
    None,
    "--config",
    envvar=CONFIG_ENV,
    help="Configuration directory (mappings/purposes.yaml). Default: the current directory.",
)


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    """Print `message` to stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


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
    config_dir = default_config_dir(config)
    try:
        return load_purposes(config_dir)
    except ConfigError as exc:
        raise invalid_config(exc, config_dir) from None


def purpose_named(purposes: dict[str, Purpose], name: str) -> Purpose:
    """The purpose called `name`; exits 2 naming the defined ones otherwise."""
    purpose = purposes.get(name)
    if purpose is None:
        defined = ", ".join(sorted(purposes)) or "none"
        raise fail(f"unknown purpose {name!r} (defined: {defined})", EXIT_USAGE)
    return purpose


def email_argument(raw: str) -> str:
    """A normalized email; exits 2 saying why when it is not one."""
    try:
        return normalize_email(raw)
    except IdentityError as exc:
        raise fail(f"{raw!r} is not an email address: {exc}", EXIT_USAGE) from None


def timestamp_option(raw: str, name: str) -> datetime:
    """An ISO 8601 time; a time without an offset is read as UTC. Exits 2 if unparseable."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise fail(f"{name} {raw!r} is not an ISO 8601 date or time", EXIT_USAGE) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
