"""Settling an `identity_ambiguous` conflict: merge the record into the other subject, or keep
it apart (docs/design.md, "Identity").

A merge moves one record to the subject that holds its new email. A denial on either side stays a
denial: every purpose the former subject denies and the other does not becomes a `manual:<who>`
denial of the other subject, a ledger row citing the conflict and the former subject's own
ledger row. Nothing else carries over: a grant is only ever what a person gave, and the former
subject's grant proves nothing about the other one. The record keeps its shadows (what it holds
is still what it holds), its queued writes are dropped, and the other subject's canonical value is
queued to it wherever it holds something else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from sqlmodel import Session, col, delete, select

from consent_sync.domain.identity import EMAIL_JOINS_OTHER
from consent_sync.domain.model import (
    MANUAL_PREFIX,
    ConflictKind,
    Evidence,
    LinkKey,
    Observation,
    Status,
    Targets,
    TimeKind,
)
from consent_sync.store import conflicts, queueing, snapshot
from consent_sync.store.errors import ConflictNotResolvableError
from consent_sync.store.tables import (
    ConflictRow,
    ConsentStateRow,
    LinkRow,
    OutboxRow,
    ShadowRow,
    SubjectRow,
)
from consent_sync.store.types import utc


@dataclass(frozen=True, slots=True)
class Move:
    """A record merged into another subject, and the denials that subject still has to take."""

    subject_id: uuid.UUID
    link_id: int
    denials: tuple[Observation, ...]


def require_identity(row: ConflictRow) -> None:
    """Refuse an identity answer for a conflict that is not about identity."""
    if row.kind != ConflictKind.IDENTITY_AMBIGUOUS.value:
        raise ConflictNotResolvableError(
            row.id or 0, f"it is a {row.kind} conflict, not identity_ambiguous: decide a status"
        )


def keep_apart(session: Session, row: ConflictRow, *, by: str, note: str, now: datetime) -> None:
    """The record is not that person: it stays with its subject and the conflict is closed."""
    require_identity(row)
    conflicts.close(session, row, by=by, note=note, resolution_seq=None, now=now)


def merge(session: Session, row: ConflictRow, *, by: str, note: str, now: datetime) -> Move:
    """Move the conflict's record to the other subject; the denials that subject must take."""
    require_identity(row)
    conflict_id = row.id or 0
    if row.rule != EMAIL_JOINS_OTHER or row.link_id is None or row.subject_id is None:
        raise ConflictNotResolvableError(conflict_id, "it names no other subject to merge into")
    link = session.get(LinkRow, row.link_id)
    former, target = row.subject_id, uuid.UUID(str(row.detail["other_subject"]))
    if link is None or link.email != row.detail.get("email"):
        raise ConflictNotResolvableError(
            conflict_id, "the record's email changed since: the conflict no longer applies"
        )
    if link.subject_id != former:
        raise ConflictNotResolvableError(conflict_id, "the record is no longer with its subject")
    if session.get(SubjectRow, target) is None:
        raise ConflictNotResolvableError(conflict_id, "the other subject no longer exists")
    snapshot.lock(session, [former, target])
    held = {state.purpose: state for state in _states(session, target)}
    denials = tuple(
        _carried_denial(state, row, by=by, note=note, now=now)
        for state in _states(session, former)
        if state.status == Status.DENIED.value
        and (state.purpose not in held or held[state.purpose].status != Status.DENIED.value)
    )
    link_id = link.id or 0
    session.execute(delete(OutboxRow).where(col(OutboxRow.link_id) == link_id))
    link.subject_id = target
    session.add(link)
    session.flush()
    return Move(target, link_id, denials)


def catch_up(session: Session, move: Move, now: datetime, targets: Targets | None) -> int:
    """Queue the subject's canonical value, as each field holds it, to the merged record
    wherever the record holds something else; how many writes were queued."""
    link = session.get(LinkRow, move.link_id)
    if link is None or not link.active:
        return 0
    key = LinkKey(link.system, link.object_type, link.record_id)
    shadows = {
        row.purpose: row
        for row in session.exec(select(ShadowRow).where(ShadowRow.link_id == move.link_id))
    }
    queued = 0
    for state in _states(session, move.subject_id):
        shadow = shadows.get(state.purpose)
        status = Status(state.status)
        wanted = queueing.held_on(targets, key, state.purpose, status)
        if shadow is None or wanted is None or shadow.last_seen == wanted.value:
            continue
        denied_at = utc(state.decided_at) if state.decided_at else now
        queued += queueing.queue(
            session,
            link_id=move.link_id,
            system=link.system,
            purpose=state.purpose,
            status=wanted,
            decision_seq=state.ledger_seq,
            revoked_at=denied_at if status is Status.DENIED else None,
            now=now,
        )
    return queued


def _states(session: Session, subject_id: uuid.UUID) -> list[ConsentStateRow]:
    query = select(ConsentStateRow).where(ConsentStateRow.subject_id == subject_id)
    return list(session.exec(query.order_by(col(ConsentStateRow.purpose))))


def _carried_denial(
    state: ConsentStateRow, row: ConflictRow, *, by: str, note: str, now: datetime
) -> Observation:
    """The former subject's denial, asserted for the other subject by whoever merged."""
    source = f"{MANUAL_PREFIX}{by}"
    extra = {
        "conflict_id": str(row.id),
        "merged_record": str(row.link),
        "from_subject": str(row.subject_id),
    }
    if state.ledger_seq is not None:
        extra["from_ledger_seq"] = str(state.ledger_seq)
    evidence = Evidence(
        source=source,
        source_record=row.link,
        collection_method="identity_merge",
        actor=by,
        captured_at=now,
        note=note,
        extra=MappingProxyType(extra),
    )
    return Observation(source, None, state.purpose, Status.DENIED, now, TimeKind.ASSERTED, evidence)
