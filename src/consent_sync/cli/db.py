"""`consent-sync db`: bring the database schema up to date, say where it stands, repair old data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from consent_sync.cli.options import CONFIG_OPTION, fail, now
from consent_sync.cli.tables import iso, table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from consent_sync.store.reclassify import PushedOptIn

db = typer.Typer(help="The database schema.", no_args_is_help=True)

RECLASSIFY_HINT = (
    "{count} grant(s) read from opt-out boxes by an earlier version: run consent-sync db reclassify"
)
PUSHED_HEADER = ("system", "object", "record id", "purpose", "applied at", "ledger seq")


@db.command("upgrade")
def upgrade_command(config: Path | None = CONFIG_OPTION) -> None:
    """Create or migrate the schema at CONSENT_SYNC_DATABASE_URL (default: ./consent-sync.db).

    With a loadable configuration directory, it then says how many grants an earlier version
    read from opt-out boxes (see `db reclassify`).
    """
    from sqlalchemy.exc import DBAPIError

    from consent_sync.cli.stores import store_engine, unreachable
    from consent_sync.store import database_url, redact_url
    from consent_sync.store.schema import current_revision, upgrade

    url = database_url()
    engine = store_engine(url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
        hint = _reclassify_hint(engine, config)
    except DBAPIError as exc:
        raise fail(unreachable(url, exc)) from None
    finally:
        engine.dispose()
    where = redact_url(url)
    if before == after:
        typer.echo(f"{where}: schema already at {after}")
    else:
        typer.echo(f"{where}: schema upgraded from {before or 'nothing'} to {after}")
    if hint:
        typer.echo(hint)


def _reclassify_hint(engine: Engine, config: Path | None) -> str | None:
    """The `db reclassify` hint if the configuration loads and there is work; never raises."""
    from consent_sync.config import default_config_dir, load_config
    from consent_sync.store import Store
    from consent_sync.store.reclassify import Rules

    try:
        mappings = load_config(default_config_dir(config), resolve_env=False).mappings
        found = Store(engine).decisions.count_reclassifiable(Rules.from_mappings(mappings))
    except Exception:  # a hint must never fail the upgrade
        return None
    return RECLASSIFY_HINT.format(count=found) if found else None


@db.command("current")
def current_command() -> None:
    """Print the schema revision of the database; exit 1 if it is not the newest."""
    from sqlalchemy.exc import DBAPIError

    from consent_sync.cli.stores import store_engine, unreachable
    from consent_sync.store import database_url
    from consent_sync.store.schema import UPGRADE_HINT, current_revision, head_revision

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


@db.command("reclassify")
def reclassify_command(
    config: Path | None = CONFIG_OPTION,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Change nothing; report what would be reclassified."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the pushed opt-ins as JSON lines (the summary goes to stderr)."
    ),
) -> None:
    """Reclassify grants an earlier version read from unticked opt-out boxes as not_opted_out.

    Earlier mappings read an unticked Salesforce opt-out box (HasOptedOutOfEmail: false) as a
    grant. Every canonical grant whose deciding ledger row was read from a field that, under
    the current mappings, has no value meaning granted gets a new ledger row (not_opted_out,
    rule reclassified; ledger rows are never changed), and its pending or withheld opt-ins are
    dropped from the outbox. Running it again changes nothing.

    It then lists the opt-ins already pushed from those grants, to undo in each CRM: system,
    object, record id, purpose, when it was applied and its ledger row. The listing names
    records and subject ids only, never email addresses, so it can be pasted into a ticket
    without personal data. Best run while sync is stopped.
    """
    from consent_sync.cli.stores import invalid_config, opened_store
    from consent_sync.config import ConfigError, default_config_dir, load_config
    from consent_sync.store.reclassify import Rules

    config_dir = default_config_dir(config)
    try:
        mappings = load_config(config_dir, resolve_env=False).mappings
    except ConfigError as exc:
        raise invalid_config(exc, config_dir) from None
    rules = Rules.from_mappings(mappings)
    reclassified, subjects, pushed = 0, 0, Counter[str]()
    rows: list[tuple[str, ...]] = []
    last_subject = None
    with opened_store(dry_run=dry_run) as store:
        for chunk in store.decisions.reclassify_grants(rules, now()):
            reclassified += len(chunk.reclassified)
            for item in chunk.reclassified:  # in subject order, across chunks too
                if item.subject_id != last_subject:
                    subjects, last_subject = subjects + 1, item.subject_id
            for opt_in in chunk.pushed:
                pushed[opt_in.system] += 1
                if as_json:
                    typer.echo(json.dumps(_as_data(opt_in), ensure_ascii=False))
                else:
                    rows.append(_as_row(opt_in))
    if rows:
        typer.echo("opt-ins pushed from reclassified grants (undo them in each CRM):")
        for line in table(PUSHED_HEADER, rows):
            typer.echo(line)
    summary = (
        f"reclassified {reclassified} grant(s) of {subjects} subject(s); "
        f"{sum(pushed.values())} opt-in(s) had been pushed"
    )
    if pushed:
        summary += ": " + ", ".join(f"{system} {n}" for system, n in sorted(pushed.items()))
    if dry_run:
        summary = f"dry run, nothing changed: {summary}"
    typer.echo(summary, err=as_json)


def _as_row(opt_in: PushedOptIn) -> tuple[str, ...]:
    seq = "" if opt_in.decision_seq is None else str(opt_in.decision_seq)
    return (
        opt_in.system,
        opt_in.object_type,
        opt_in.record_id,
        opt_in.purpose,
        opt_in.applied_at.isoformat(),
        seq,
    )


def _as_data(opt_in: PushedOptIn) -> dict[str, object]:
    return {
        "system": opt_in.system,
        "object": opt_in.object_type,
        "record_id": opt_in.record_id,
        "purpose": opt_in.purpose,
        "applied_at": iso(opt_in.applied_at),
        "ledger_seq": opt_in.decision_seq,
        "subject": str(opt_in.subject_id),
    }
