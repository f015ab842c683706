"""`consent-sync conflicts`: review recorded disagreements and failures, and resolve them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from consent_sync.cli.consent import Decided, deployment_targets, describe
from consent_sync.cli.options import CONFIG_OPTION, EXIT_USAGE, fail, now
from consent_sync.cli.tables import iso, table
from consent_sync.domain.identity import redact_email
from consent_sync.domain.model import ConflictKind, Status

if TYPE_CHECKING:
    from consent_sync.store import Applied
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
    status: Decided | None = typer.Option(
        None, "--status", help="The decision: granted or denied (consent conflicts)."
    ),
    merge: bool = typer.Option(
        False,
        "--merge",
        help="identity_ambiguous: the record is the other subject's person; move it there "
        "(a denial on either side stays a denial).",
    ),
    keep_apart: bool = typer.Option(
        False,
        "--keep-apart",
        help="identity_ambiguous: the record stays with its subject; close with the note.",
    ),
    note: str = typer.Option(..., "--note", help="Why; kept in the ledger as evidence."),
    by: str = typer.Option(..., "--by", help="Who decides; recorded as source manual:<by>."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Resolve a conflict: a consent conflict with a manual decision (--status), an identity
    conflict with --merge or --keep-apart. Decisions are ledgered and pushed everywhere."""
    from consent_sync.cli.stores import opened_store, purposes_from
    from consent_sync.store.errors import DecisionRefusedError

    identity = _identity_answer(status, merge=merge, keep_apart=keep_apart)
    purposes = purposes_from(config)
    who = f"manual:{by.removeprefix('manual:')}"
    with opened_store() as store:
        _check_answer(store.views.conflict(conflict_id), identity)
        if status is None:  # then an identity answer (`_identity_answer`)
            merged = store.decisions.resolve_identity(
                conflict_id,
                merge=identity == "merge",
                by=by,
                note=note,
                purposes=purposes,
                now=now(),
                targets=deployment_targets(config),
            )
            typer.echo(f"conflict #{conflict_id} resolved by {who}: {_identity_outcome(merged)}")
            return
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
    typer.echo(f"conflict #{conflict_id} resolved by {who}")
    typer.echo(describe(applied, f"{status.value}"))


def _identity_outcome(merged: Applied | None) -> str:
    if merged is None:
        return "kept apart; the record stays with its subject"
    seqs = ", ".join(f"#{seq}" for seq in merged.ledger_seqs)
    carried = (
        f"{len(merged.ledger_seqs)} denial(s) carried over (ledger {seqs})"
        if seqs
        else ("no denial to carry over")
    )
    return f"merged into subject {merged.subject_id}; {carried}; {merged.queued} write(s) queued"


def _identity_answer(status: Decided | None, *, merge: bool, keep_apart: bool) -> str | None:
    """ "merge", "keep-apart", or None for a status decision; exits 2 on anything else."""
    if merge and keep_apart:
        raise fail("--merge and --keep-apart exclude each other: give one", EXIT_USAGE)
    answer = "merge" if merge else "keep-apart" if keep_apart else None
    if answer is not None and status is not None:
        raise fail(f"--status decides consent, --{answer} identity: give one", EXIT_USAGE)
    if answer is None and status is None:
        raise fail("give --status, or --merge or --keep-apart for an identity conflict", EXIT_USAGE)
    return answer


def _check_answer(row: ConflictRow, identity: str | None) -> None:
    """Exit 2 when the answer does not fit the conflict's kind."""
    about_identity = row.kind == ConflictKind.IDENTITY_AMBIGUOUS.value
    if about_identity and identity is None:
        raise fail(
            f"conflict #{row.id} is identity_ambiguous: resolve it with --merge or --keep-apart",
            EXIT_USAGE,
        )
    if not about_identity and identity is not None:
        raise fail(
            f"conflict #{row.id} is {row.kind}: --{identity} is for identity_ambiguous "
            "conflicts; decide with --status",
            EXIT_USAGE,
        )
    if identity == "merge" and "other_subject" not in row.detail:
        raise fail(
            f"conflict #{row.id} names no other subject to merge into (the email was refused): "
            "fix the email in the CRM, or --keep-apart to close it",
            EXIT_USAGE,
        )


#: Detail keys of identity conflicts that hold an email: redacted wherever a conflict is shown.
_EMAIL_DETAIL = ("email", "previous_email")


def as_data(row: ConflictRow) -> dict[str, Any]:
    """A conflict as JSON-ready data (the subject by id, emails redacted: personal data stays
    out of terminals; the store keeps them)."""
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
        "detail": _redacted(row.detail),
        "created_at": iso(row.created_at),
        "resolved_by": row.resolved_by,
        "resolved_at": iso(row.resolved_at),
        "resolution_note": row.resolution_note,
        "resolution_seq": row.resolution_seq,
    }


def _redacted(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        key: redact_email(value) if key in _EMAIL_DETAIL and isinstance(value, str) else value
        for key, value in detail.items()
    }
