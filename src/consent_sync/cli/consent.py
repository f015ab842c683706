"""`consent-sync consent record`: a decision made outside any CRM, through the same rule."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import typer

from consent_sync.cli.options import (
    CONFIG_OPTION,
    EXIT_USAGE,
    email_argument,
    fail,
    now,
    purpose_named,
    timestamp_option,
)
from consent_sync.domain.model import (
    LEGAL_BASES,
    MANUAL_PREFIX,
    Evidence,
    Observation,
    Status,
    Targets,
    TimeKind,
)

if TYPE_CHECKING:
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
    """Record a person's decision; it is ledgered and pushed to every linked system.

    A grant is explicit only with the evidence given here (--evidence legal_basis=consent,
    notice_ref=..., note=...): a grant over a denial for a purpose that requires evidence is
    refused without it (exit 2), and a HubSpot subscription is only written with a legal basis.
    """
    from consent_sync.cli.stores import opened_store, purposes_from
    from consent_sync.store.errors import DecisionRefusedError

    address = email_argument(email)
    named = purpose_named(purposes_from(config), purpose)
    decided_by = source if ":" in source else f"{MANUAL_PREFIX}{source}"
    at = now()
    proof = parse_evidence(evidence, decided_by, source.partition(":")[2] or source, at)
    observation = Observation(
        decided_by, None, named.name, Status(status.value), at, TimeKind.ASSERTED, proof
    )
    with opened_store() as store:
        try:
            applied = store.decisions.record(
                address, observation, {named.name: named}, at, deployment_targets(config)
            )
        except DecisionRefusedError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    typer.echo(describe(applied, f"{named.name} {status.value} for {address}"))


def deployment_targets(config: Path | None) -> Targets | None:
    """What each mapped field holds for a status, when the whole configuration loads."""
    from consent_sync.config import ConfigError, default_config_dir, load_config
    from consent_sync.domain.mapping import targets

    try:
        return targets(load_config(default_config_dir(config)).mappings)
    except ConfigError:
        # Purposes alone decide; without the mappings a field already holding the value may be
        # written it again (harmless), and nothing is ever rendered as an opt-in it cannot hold.
        return None


def parse_evidence(pairs: list[str], source: str, actor: str, at: datetime) -> Evidence:
    """`key=value` pairs as Evidence: known ISO 27560 fields by name, the rest as extras.

    Exits 2 naming the problem for an empty value, a legal basis outside GDPR Art. 6(1) (or
    non_gdpr), or a capture time that is not a time or lies in the future.
    """
    known: dict[str, Any] = {"collection_method": "manual_entry", "actor": actor}
    extra: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise fail(f"--evidence {pair!r} is not key=value", EXIT_USAGE)
        if not value:
            raise fail(f"--evidence {key} is empty; leave it out instead", EXIT_USAGE)
        if key == "captured_at":
            captured = timestamp_option(value, "--evidence captured_at")
            if captured > at:
                raise fail(f"--evidence captured_at {value!r} is in the future", EXIT_USAGE)
            known[key] = captured
        elif key == "legal_basis" and value not in LEGAL_BASES:
            allowed = ", ".join(sorted(LEGAL_BASES))
            raise fail(f"--evidence legal_basis {value!r} must be one of {allowed}", EXIT_USAGE)
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
