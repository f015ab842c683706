"""`consent-sync subject show`: one person's consent across systems, with its history."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from consent_sync.cli.options import CONFIG_OPTION, email_argument
from consent_sync.cli.tables import iso, table
from consent_sync.domain.model import Purpose, Status

if TYPE_CHECKING:
    from consent_sync.store import SubjectView

subject = typer.Typer(help="People and their consent.", no_args_is_help=True)


@subject.command("show")
def show(
    email: str = typer.Argument(..., help="The person's email address."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Current state per purpose, linked records, pending writes and the full ledger timeline.

    With the configuration's purposes at hand, each state also says what it means under its
    purpose's regime (an explicit grant, or only "not opted out").
    """
    from consent_sync.cli.stores import opened_store, purposes_from
    from consent_sync.config import default_config_dir

    address = email_argument(email)
    has_purposes = (default_config_dir(config) / "mappings" / "purposes.yaml").is_file()
    purposes = purposes_from(config) if config is not None or has_purposes else {}
    with opened_store() as store:
        view = store.views.subject(address)
    if as_json:
        typer.echo(json.dumps(as_data(view, purposes), indent=2, ensure_ascii=False))
    else:
        typer.echo(render(view, purposes))


def meaning(status: str, purpose: Purpose | None) -> str:
    """What a canonical status means to a reader, under the purpose's regime when known."""
    if status == Status.GRANTED.value:
        return "explicit grant"
    if status == Status.DENIED.value:
        return "opted out"
    what = "no objection recorded, not consent" if status == Status.NOT_OPTED_OUT else "unknown"
    if purpose is None:
        return what
    allowed = "may be contacted" if purpose.permits(Status(status)) else "may not be contacted"
    return f"{what}; {allowed} ({purpose.regime.value} regime)"


def as_data(view: SubjectView, purposes: Mapping[str, Purpose] | None = None) -> dict[str, Any]:
    """The view as JSON-ready data."""
    known = purposes or {}
    return {
        "subject": {
            "id": str(view.subject.id),
            "email": view.subject.email,
            "phone": view.subject.phone,
            "created_at": iso(view.subject.created_at),
        },
        "state": {
            s.purpose: {
                "status": s.status,
                "explicit": Status(s.status).explicit,
                "regime": known[s.purpose].regime.value if s.purpose in known else None,
                "permitted": (
                    known[s.purpose].permits(Status(s.status)) if s.purpose in known else None
                ),
                "meaning": meaning(s.status, known.get(s.purpose)),
                "decided_at": iso(s.decided_at),
                "time_kind": s.time_kind,
                "source": s.source,
                "imported": s.imported,
                "ledger_seq": s.ledger_seq,
            }
            for s in view.states
        },
        "links": [
            {
                "system": link.system,
                "object_type": link.object_type,
                "record_id": link.record_id,
                "active": link.active,
                "linked_at": iso(link.created_at),
                "ended_at": iso(link.ended_at),
            }
            for link in view.links
        ],
        "pending_writes": [
            {
                "link": p.link,
                "purpose": p.purpose,
                "status": p.status,
                "state": p.state,
                "attempts": p.attempts,
                "last_error": p.last_error,
                "revoked_at": iso(p.revoked_at),
            }
            for p in view.pending
        ],
        "deliveries": [
            {
                "link": d.link,
                "purpose": d.purpose,
                "status": d.status,
                "applied_at": iso(d.applied_at),
                "time_to_apply_s": d.time_to_apply_s,
            }
            for d in view.deliveries
        ],
        "timeline": [
            {
                "seq": r.seq,
                "purpose": r.purpose,
                "previous": r.previous,
                "status": r.status,
                "decided_at": iso(r.decided_at),
                "time_kind": r.time_kind,
                "recorded_at": iso(r.recorded_at),
                "source": r.source,
                "link": r.link,
                "rule": r.rule,
                "evidence": r.evidence,
            }
            for r in view.timeline
        ],
    }


def render(view: SubjectView, purposes: Mapping[str, Purpose] | None = None) -> str:
    """The view as aligned text tables."""
    known = purposes or {}
    person = view.subject
    lines = [f"subject {person.id}  {person.email}" + (f"  {person.phone}" if person.phone else "")]
    lines += ["", "state:"]
    lines += table(
        ("purpose", "status", "meaning", "decided at", "time kind", "source", "ledger"),
        [
            (
                s.purpose,
                s.status,
                meaning(s.status, known.get(s.purpose)),
                iso(s.decided_at) or "-",
                s.time_kind or "-",
                s.source or "-",
                f"#{s.ledger_seq}" + (" (imported)" if s.imported else ""),
            )
            for s in view.states
        ],
    )
    lines += ["", "links:"]
    lines += table(
        ("system", "object", "record", "active", "linked at"),
        [
            (
                k.system,
                k.object_type,
                k.record_id,
                "yes" if k.active else f"ended {iso(k.ended_at)}",
                iso(k.created_at) or "-",
            )
            for k in view.links
        ],
    )
    if view.pending:
        lines += ["", "pending writes:"]
        lines += table(
            ("record", "purpose", "value", "state", "attempts", "revoked at", "last error"),
            [
                (
                    p.link,
                    p.purpose,
                    p.status,
                    p.state,
                    str(p.attempts),
                    iso(p.revoked_at) or "-",
                    p.last_error or "-",
                )
                for p in view.pending
            ],
        )
    if view.deliveries:
        lines += ["", "applied writes:"]
        lines += table(
            ("record", "purpose", "value", "applied at", "time to apply"),
            [
                (
                    d.link,
                    d.purpose,
                    d.status,
                    iso(d.applied_at) or "-",
                    "-" if d.time_to_apply_s is None else f"{d.time_to_apply_s:.0f}s",
                )
                for d in view.deliveries
            ],
        )
    lines += ["", "timeline:"]
    for r in view.timeline:
        lines.append(
            f"  #{r.seq} {iso(r.decided_at)} {r.purpose}: {r.previous} -> {r.status}"
            f"  by {r.source}{f' ({r.link})' if r.link else ''}  [{r.rule}, {r.time_kind}]"
        )
        proof = ", ".join(f"{k}={v}" for k, v in sorted(_flat(r.evidence)) if k != "source")
        if proof:
            lines.append(f"      evidence: {proof}")
    if not view.timeline:
        lines.append("  (no decisions)")
    return "\n".join(lines)


def _flat(evidence: dict[str, Any]) -> list[tuple[str, Any]]:
    extra = evidence.get("extra") or {}
    named = [(k, v) for k, v in evidence.items() if k != "extra"]
    return named + [(f"extra.{k}", v) for k, v in extra.items()]
