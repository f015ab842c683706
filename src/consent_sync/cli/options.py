"""What every command shares without the store: exit codes, the --config option, failing, and
parsing arguments.

Every command module loads this when the CLI starts, so it imports typer and the pure domain
only; `consent_sync.cli.stores` holds what needs the store or the configuration package.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from consent_sync.domain.identity import IdentityError, normalize_email
from consent_sync.domain.model import Purpose

EXIT_FAILURE = 1
EXIT_USAGE = 2

#: `consent_sync.config.CONFIG_ENV`, named again so start-up need not load the configuration
#: package (pydantic, APScheduler); tests/cli/test_startup.py pins that the two agree.
CONFIG_ENV = "CONSENT_SYNC_CONFIG"

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
