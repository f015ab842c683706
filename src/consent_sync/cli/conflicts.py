"""`consent-sync conflicts`: review recorded disagreements and failures, and resolve them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from consent_sync.cli.consent import Decided, deployment_targets, describe
from consent_sync.cli.options import CONFIG_OPTION, EXIT_USAGE, fail, now
from consent_sync.cli.tables import iso, table
from consent_sync.domain.model import ConflictKind, Status

if TYPE_CHECKING:
    from consent_sync.store.tables import ConflictRow

conflicts = typer.Typer(help="Recorded conflicts and failures.", no_args_is_help=True)


@conflicts.command("list")
def list_conflicts(
    open_only: bool = typer.Option(False, "--open", help="Only conflicts not yet resolved."),
    kind: ConflictKind | None = typer.Option(None, "--kind", help="Only this kind."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """List conflicts, oldest first."""
    from consent_sync.cli.stores import opened_store

    with opened_store() as store:
        rows = store.views.conflicts(open_only=open_only, kind=kind)
        if as_json:
            for row in rows:
                typer.echo(json.dumps(as_data(row), ensure_ascii=False))
            return
        lines = table(
            ("id", "created at", "kind", "severity", "status", "purpose", "record", "message"),
            [
                (
                    str(row.id),
                    iso(row.created_at) or "-",
                    row.kind,
                    row.severity,
                    row.status,
                    row.purpose or "-",
                    row.link or "-",
                    row.message,
                )
                for row in rows
            ],
        )
    typer.echo("\n".join(line.removeprefix("  ") for line in lines))


@conflicts.command("show")
def show(conflict_id: int = typer.Argument(..., help="The conflict's id.")) -> None:
    """Everything recorded about one conflict: both sides, the rule, the resolution."""
    from consent_sync.cli.stores import opened_store

    with opened_store() as store:
        row = store.views.conflict(conflict_id)
    typer.echo(json.dumps(as_data(row), indent=2, ensure_ascii=False))


@conflicts.command("resolve")
def resolve(
    conflict_id: int = typer.Argument(..., help="The conflict's id."),
    status: Decided = typer.Option(..., "--status", help="The decision: granted or denied."),
    note: str = typer.Option(..., "--note", help="Why; kept in the ledger as evidence."),
    by: str = typer.Option(..., "--by", help="Who decides; recorded as source manual:<by>."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Resolve a conflict with a manual decision that is ledgered and pushed everywhere."""
    from consent_sync.cli.stores import opened_store, purposes_from
    from consent_sync.store.errors import DecisionRefusedError

    purposes = purposes_from(config)
    with opened_store() as store:
        try:
            applied = store.decisions.resolve_conflict(
                conflict_id,
                Status(status.value),
                by=by,
                note=note,
                purposes=purposes,
                now=now(),
                targets=deployment_targets(config),
            )
        except DecisionRefusedError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    typer.echo(f"conflict #{conflict_id} resolved by manual:{by.removeprefix('manual:')}")
    typer.echo(describe(applied, f"{status.value}"))


def as_data(row: ConflictRow) -> dict[str, Any]:
    """A conflict as JSON-ready data (the subject by id: emails stay out of listings)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "severity": row.severity,
        "status": row.status,
        "purpose": row.purpose,
        "subject": str(row.subject_id) if row.subject_id else None,
        "link": row.link,
        "sides": row.sides,
        "rule": row.rule,
        "message": row.message,
        "detail": row.detail,
        "created_at": iso(row.created_at),
        "resolved_by": row.resolved_by,
        "resolved_at": iso(row.resolved_at),
        "resolution_note": row.resolution_note,
        "resolution_seq": row.resolution_seq,
    }
