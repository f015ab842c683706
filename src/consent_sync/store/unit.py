"""The unit of work: one subject's observations reconciled and recorded in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from consent_sync.model import (
    Canonical,
    LinkKey,
    Observation,
    Purpose,
    Resolution,
    Shadow,
    Status,
)
from consent_sync.reconcile import reconcile
from consent_sync.store import conflicts, ledger, outbox
from consent_sync.store.errors import UnknownPurposeError
from consent_sync.store.tables import ConsentStateRow, LinkRow, ShadowRow, SubjectRow
from consent_sync.store.types import utc

#: An observation and the id of the link it was read from (None for manual and API decisions).
Sighting = tuple[Observation, int | None]


@dataclass(frozen=True, slots=True)
class Applied:
    """What one subject's unit of work recorded."""

    subject_id: uuid.UUID
    resolutions: tuple[Resolution, ...]
    ledger_seqs: tuple[int, ...]
    conflict_ids: tuple[int, ...]
    queued: int  # outbox rows created or re-coalesced


def lock_subject(session: Session, subject_id: uuid.UUID) -> None:
    """Hold the subject until the transaction ends, so replicas cannot interleave (PostgreSQL).

    SQLite needs nothing more: every write transaction holds the database's writer lock.
    """
    session.exec(select(SubjectRow.id).where(SubjectRow.id == subject_id).with_for_update()).one()


def apply(
    session: Session,
    subject_id: uuid.UUID,
    sightings: Sequence[Sighting],
    purposes: Mapping[str, Purpose],
    now: datetime,
) -> Applied:
    """Reconcile a subject's sightings per purpose and record everything the rule concluded.

    Writes ledger rows, canonical state, conflicts, shadows and coalesced outbox rows; the
    caller owns the transaction, so either all of it lands or none.
    """
    lock_subject(session, subject_id)
    by_purpose: dict[str, list[Sighting]] = {}
    for sighting in sightings:
        by_purpose.setdefault(sighting[0].purpose, []).append(sighting)
    resolutions: list[Resolution] = []
    seqs: list[int] = []
    conflict_ids: list[int] = []
    queued = 0
    for name in sorted(by_purpose):
        purpose = purposes.get(name)
        if purpose is None:
            raise UnknownPurposeError(name)
        group = by_purpose[name]
        state = session.get(ConsentStateRow, (subject_id, name))
        canonical = _canonical(state)
        shadows = _shadows(session, name, {lid for _, lid in group if lid is not None})
        inputs = [(o, _shadow(shadows.get(lid)) if lid else Shadow()) for o, lid in group]
        resolution = reconcile(purpose, canonical, inputs)
        resolutions.append(resolution)
        new_seqs = ledger.append(session, subject_id, resolution.decisions, now)
        seqs.extend(new_seqs)
        state = _save_state(session, subject_id, state, resolution, new_seqs, now)
        link_ids = {o.link: lid for o, lid in group if o.link is not None and lid is not None}
        conflict_ids.extend(_record_conflicts(session, subject_id, resolution, link_ids, now))
        for observation, link_id in group:
            if link_id is not None:
                _see(session, shadows, link_id, name, observation.status, now)
        session.flush()
        queued += _propagate(session, subject_id, name, resolution.canonical, state, now)
    return Applied(subject_id, tuple(resolutions), tuple(seqs), tuple(conflict_ids), queued)


def _canonical(state: ConsentStateRow | None) -> Canonical:
    if state is None:
        return Canonical()
    return Canonical(Status(state.status), state.decided_at, state.source, state.imported)


def _shadows(session: Session, purpose: str, link_ids: set[int]) -> dict[int, ShadowRow]:
    if not link_ids:
        return {}
    rows = session.exec(
        select(ShadowRow).where(col(ShadowRow.link_id).in_(link_ids), ShadowRow.purpose == purpose)
    )
    return {row.link_id: row for row in rows}


def _shadow(row: ShadowRow | None) -> Shadow:
    if row is None:
        return Shadow()
    return Shadow(
        Status(row.last_seen) if row.last_seen else None,
        Status(row.last_written) if row.last_written else None,
    )


def _save_state(
    session: Session,
    subject_id: uuid.UUID,
    state: ConsentStateRow | None,
    resolution: Resolution,
    seqs: Sequence[int],
    now: datetime,
) -> ConsentStateRow | None:
    new = resolution.canonical
    if not seqs and (state is None or _canonical(state) == new):
        return state
    if state is None:
        state = ConsentStateRow(
            subject_id=subject_id, purpose=resolution.purpose, status="", updated_at=now
        )
    decisions = resolution.decisions
    state.status, state.decided_at = new.status.value, new.decided_at
    state.source, state.imported, state.updated_at = new.source, new.imported, now
    if decisions:
        state.time_kind, state.ledger_seq = decisions[-1].time_kind.value, seqs[-1]
    session.add(state)
    return state


def _record_conflicts(
    session: Session,
    subject_id: uuid.UUID,
    resolution: Resolution,
    link_ids: Mapping[LinkKey, int],
    now: datetime,
) -> list[int]:
    return [
        conflicts.record(session, subject_id, c, link_ids.get(c.link) if c.link else None, now)
        for c in resolution.conflicts
    ]


def _see(
    session: Session,
    shadows: dict[int, ShadowRow],
    link_id: int,
    purpose: str,
    status: Status,
    now: datetime,
) -> None:
    row = shadows.get(link_id)
    if row is None:
        row = shadows[link_id] = ShadowRow(link_id=link_id, purpose=purpose)
    if row.last_written is not None and row.last_written != status.value:
        # A different value came back: our write did not land or was overwritten since. Forget
        # it, so that a person later setting that value is never mistaken for our own echo.
        row.last_written = None
    row.last_seen, row.last_seen_at = status.value, now
    session.add(row)


def _propagate(
    session: Session,
    subject_id: uuid.UUID,
    purpose: str,
    canonical: Canonical,
    state: ConsentStateRow | None,
    now: datetime,
) -> int:
    """Queue the canonical value for every active link whose system holds something else."""
    if not canonical.known:
        return 0
    rows = session.exec(
        select(LinkRow.id, LinkRow.system, ShadowRow.last_seen)
        .join(ShadowRow, col(ShadowRow.link_id) == col(LinkRow.id))
        .where(LinkRow.subject_id == subject_id, LinkRow.active, ShadowRow.purpose == purpose)
    ).all()
    decided_at = utc(canonical.decided_at) if canonical.decided_at else now
    revoked_at = decided_at if canonical.status is Status.DENIED else None
    queued = 0
    for link_id, system, last_seen in rows:
        if link_id is None:
            continue
        if last_seen == canonical.status.value:
            outbox.settle(session, link_id, purpose)
            continue
        queued += outbox.queue(
            session,
            link_id=link_id,
            system=system,
            purpose=purpose,
            status=canonical.status,
            decision_seq=state.ledger_seq if state else None,
            revoked_at=revoked_at,
            now=now,
        )
    return queued
