"""`consent-sync outbox`: review the writes still owed to systems, and retry dead letters.

A dead letter is a write a system refused for good (its `push_rejected` conflict says why).
Once the cause is fixed in the CRM (a validation rule, a locked field, a permission), `retry`
moves it back to pending, due at once, so the next push (the daemon's, or `consent-sync sync`)
delivers it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from consent_sync.cli.options import EXIT_USAGE, fail, now
from consent_sync.cli.status import redacted
from consent_sync.cli.tables import iso, table

if TYPE_CHECKING:
    from consent_sync.store.outbox import OutboxEntry

outbox = typer.Typer(help="Writes still owed to systems; dead letters.", no_args_is_help=True)


@outbox.command("list")
def list_outbox(
    dead: bool = typer.Option(False, "--dead", help="Only dead letters (refused for good)."),
    system: str | None = typer.Option(None, "--system", "-s", help="Only writes to this system."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """List queued writes (pending, dead, withheld), oldest first."""
    from consent_sync.cli.stores import opened_store
    from consent_sync.store.queueing import OutboxState

    with opened_store() as store:
        rows = store.outbox.listing(state=OutboxState.DEAD if dead else None, system=system)
        if as_json:
            for row in rows:
                typer.echo(json.dumps(as_data(row), ensure_ascii=False))
            return
        lines = table(
            ("id", "state", "record", "purpose", "value", "attempts", "next attempt", "error"),
            [
                (
                    str(row.id),
                    row.state.value,
                    row.link,
                    row.purpose,
                    row.status,
                    str(row.attempts),
                    iso(row.next_attempt_at) or "-",
                    redacted(row.last_error).splitlines()[0][:120] if row.last_error else "-",
                )
                for row in rows
            ],
        )
    typer.echo("\n".join(line.removeprefix("  ") for line in lines))


@outbox.command("retry")
def retry(
    outbox_id: int | None = typer.Argument(None, help="The dead letter's id (outbox list --dead)."),
    all_dead: bool = typer.Option(False, "--all-dead", help="Retry every dead letter."),
    system: str | None = typer.Option(
        None, "--system", "-s", help="With --all-dead: only those of this system."
    ),
) -> None:
    """Move a dead letter (or all of them) back to pending; the next push delivers it."""
    from consent_sync.cli.stores import opened_store
    from consent_sync.store.queueing import OutboxState

    if (outbox_id is None) == (not all_dead):
        raise fail("give either an outbox id or --all-dead", EXIT_USAGE)
    if system is not None and not all_dead:
        raise fail("--system goes with --all-dead", EXIT_USAGE)
    with opened_store() as store:
        if outbox_id is None:
            retried = store.outbox.requeue_dead(now(), system)
            typer.echo(f"{len(retried)} dead letter(s) moved back to pending")
            return
        entry = store.outbox.entry(outbox_id)
        if entry.state is not OutboxState.DEAD:
            raise fail(f"outbox row {outbox_id} is {entry.state.value}, not a dead letter")
        store.outbox.requeue(outbox_id, now())
    typer.echo(
        f"outbox row {outbox_id} ({entry.link} {entry.purpose}={entry.status}) moved back to "
        "pending; the next push delivers it"
    )


def as_data(row: OutboxEntry) -> dict[str, Any]:
    """An outbox row as JSON-ready data (the record by its id: emails stay out of listings)."""
    return {
        "id": row.id,
        "system": row.system,
        "record": row.link,
        "purpose": row.purpose,
        "status": row.status,
        "state": row.state.value,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "last_error": redacted(row.last_error) if row.last_error else None,
        "revoked_at": iso(row.revoked_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
