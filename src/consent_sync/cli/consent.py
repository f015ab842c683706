"""`consent-sync consent record`: a decision made outside any CRM, through the same rule."""

from __future__ import annotations

from dataclasses import fields
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import typer

from consent_sync.cli._store import (
    CONFIG_OPTION,
    EXIT_USAGE,
    email_argument,
    fail,
    now,
    opened_store,
    purpose_named,
    purposes_from,
    timestamp_option,
)
from consent_sync.model import MANUAL_PREFIX, Evidence, Observation, Status, TimeKind
from consent_sync.store import Applied

consent = typer.Typer(help="Consent decisions.", no_args_is_help=True)

_EVIDENCE_FIELDS = {f.name for f in fields(Evidence)} - {"source", "extra"}


class Decided(StrEnum):
    """What a person decided: a manual decision is never `unknown`."""

    GRANTED = "granted"
    DENIED = "denied"


@consent.command("record")
def record(
    email: str = typer.Argument(..., help="The person's email address."),
    purpose: str = typer.Argument(..., help="A purpose from mappings/purposes.yaml."),
    status: Decided = typer.Argument(..., help="granted or denied."),
    source: str = typer.Option(
        ..., "--source", help="Who decided: NAME becomes manual:NAME; api:X etc. kept as given."
    ),
    evidence: list[str] = typer.Option(
        [],
        "--evidence",
        help="key=value proof, e.g. legal_basis=consent, notice_version=3, note='...'.",
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Record a person's decision; it is ledgered and pushed to every linked system."""
    address = email_argument(email)
    named = purpose_named(purposes_from(config), purpose)
    decided_by = source if ":" in source else f"{MANUAL_PREFIX}{source}"
    at = now()
    proof = parse_evidence(evidence, decided_by, source.partition(":")[2] or source)
    observation = Observation(
        decided_by, None, named.name, Status(status.value), at, TimeKind.ASSERTED, proof
    )
    with opened_store() as store:
        applied = store.record(address, observation, {named.name: named}, at)
    typer.echo(describe(applied, f"{named.name} {status.value} for {address}"))


def parse_evidence(pairs: list[str], source: str, actor: str) -> Evidence:
    """`key=value` pairs as Evidence: known ISO 27560 fields by name, the rest as extras."""
    known: dict[str, Any] = {"collection_method": "manual_entry", "actor": actor}
    extra: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise fail(f"--evidence {pair!r} is not key=value", EXIT_USAGE)
        if key == "captured_at":
            known[key] = timestamp_option(value, "--evidence captured_at")
        elif key in _EVIDENCE_FIELDS:
            known[key] = value
        else:
            extra[key] = value
    return Evidence(source=source, extra=MappingProxyType(extra), **known)


def describe(applied: Applied, what: str) -> str:
    """One line for the outcome, then one per conflict the rule recorded."""
    lines: list[str] = []
    if applied.ledger_seqs:
        seqs = ", ".join(f"#{seq}" for seq in applied.ledger_seqs)
        lines.append(f"recorded {what} (ledger {seqs}); {applied.queued} write(s) queued")
    else:
        outcomes = {v.outcome for r in applied.resolutions for v in r.verdicts}
        lines.append(f"no change: {what} ({', '.join(sorted(outcomes))})")
    lines.extend(
        f"conflict #{cid}: {c.kind} — {c.message}"
        for cid, c in zip(
            applied.conflict_ids,
            (c for r in applied.resolutions for c in r.conflicts),
            strict=True,
        )
    )
    return "\n".join(lines)
