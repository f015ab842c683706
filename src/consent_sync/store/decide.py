"""The unit of work: a batch of subjects' observations reconciled and recorded together."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from consent_sync.domain.model import (
    Canonical,
    Conflict,
    LinkKey,
    Observation,
    Purpose,
    Resolution,
    Status,
    Targets,
)
from consent_sync.domain.reconcile import reconcile
from consent_sync.store import conflicts, ledger, queueing, snapshot
from consent_sync.store.errors import UnknownPurposeError
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


def apply(
    session: Session,
    subject_id: uuid.UUID,
    sightings: Sequence[Sighting],
    purposes: Mapping[str, Purpose],
    now: datetime,
    targets: Targets | None = None,
) -> Applied:
    """`apply_many` for one subject."""
    (applied,) = apply_many(session, {subject_id: sightings}, purposes, now, targets)
    return applied


def apply_many(
    session: Session,
    batch: Mapping[uuid.UUID, Sequence[Sighting]],
    purposes: Mapping[str, Purpose],
    now: datetime,
    targets: Targets | None = None,
) -> list[Applied]:
    """Reconcile each subject's sightings per purpose and record everything the rule concluded.

    Writes ledger rows, canonical state, conflicts, shadows and coalesced outbox rows for every
    subject of the batch, in batch order; the caller owns the transaction, so either all of it
    lands or none. `targets` says what each field holds for a canonical status (None: every
    field holds every status as is).
    """
    groups = _groups(batch, purposes)
    subject_ids = list(batch)
    snapshot.lock(session, subject_ids)
    loaded = snapshot.load(session, subject_ids)
    resolutions = [
        reconcile(
            purposes[name],
            loaded.canonical(subject_id, name),
            [(o, loaded.shadow(link_id, name)) for o, link_id in group],
        )
        for subject_id, name, group in groups
    ]
    pairs = [(s, d) for (s, _, _), r in zip(groups, resolutions, strict=True) for d in r.decisions]
    seqs = iter(ledger.append(session, pairs, now))
    plan = queueing.Plan()
    found: list[tuple[uuid.UUID, Conflict, int | None]] = []
    done = {subject_id: _Done() for subject_id in batch}
    for (subject_id, name, group), resolution in zip(groups, resolutions, strict=True):
        new_seqs = [next(seqs) for _ in resolution.decisions]
        state = loaded.save_state(subject_id, resolution, new_seqs, now)
        link_ids = {o.link: lid for o, lid in group if o.link is not None and lid is not None}
        found.extend(
            (subject_id, c, link_ids.get(c.link) if c.link else None) for c in resolution.conflicts
        )
        for observation, link_id in group:
            if link_id is not None:
                loaded.see(link_id, name, observation.status, now)
        subject = done[subject_id]
        subject.resolutions.append(resolution)
        subject.seqs.extend(new_seqs)
        subject.conflicts += len(resolution.conflicts)
        subject.queued += _propagate(
            loaded, plan, subject_id, name, resolution.canonical, state, now, targets
        )
    conflict_ids = iter(conflicts.record_many(session, found, now))
    snapshot.write(session, loaded)
    queueing.write(session, plan)
    return [
        Applied(
            subject_id,
            tuple(d.resolutions),
            tuple(d.seqs),
            tuple(next(conflict_ids) for _ in range(d.conflicts)),
            d.queued,
        )
        for subject_id, d in done.items()
    ]


@dataclass(slots=True)
class _Done:
    resolutions: list[Resolution] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    conflicts: int = 0
    queued: int = 0


def _groups(
    batch: Mapping[uuid.UUID, Sequence[Sighting]], purposes: Mapping[str, Purpose]
) -> list[tuple[uuid.UUID, str, list[Sighting]]]:
    """Each subject's sightings per purpose: subjects in batch order, purposes sorted."""
    groups: list[tuple[uuid.UUID, str, list[Sighting]]] = []
    for subject_id, sightings in batch.items():
        by_purpose: dict[str, list[Sighting]] = {}
        for sighting in sightings:
            by_purpose.setdefault(sighting[0].purpose, []).append(sighting)
        for name in sorted(by_purpose):
            if name not in purposes:
                raise UnknownPurposeError(name)
            groups.append((subject_id, name, by_purpose[name]))
    return groups


def _propagate(
    loaded: snapshot.Snapshot,
    plan: queueing.Plan,
    subject_id: uuid.UUID,
    purpose: str,
    canonical: Canonical,
    state: snapshot.State | None,
    now: datetime,
    targets: Targets | None,
) -> int:
    """Queue the canonical value, as each field holds it, for every active link whose system
    holds something else; a field that cannot hold it is left alone."""
    if not canonical.known:
        return 0
    decided_at = utc(canonical.decided_at) if canonical.decided_at else now
    revoked_at = decided_at if canonical.status is Status.DENIED else None
    queued = 0
    for link in loaded.links.get(subject_id, ()):
        shadow = loaded.shadows.get((link.id, purpose))
        if not link.active or shadow is None:
            continue
        rows = loaded.outbox.setdefault((link.id, purpose), [])
        key = LinkKey(link.system, link.object_type, link.record_id)
        wanted = queueing.held_on(targets, key, purpose, canonical.status)
        if wanted is None or shadow.last_seen == wanted.value:
            if rows:  # the link holds what it can of the canonical value: nothing left to write
                plan.settled.append((link.id, purpose))
                rows.clear()
            continue
        queued += plan.queue(
            rows,
            link_id=link.id,
            system=link.system,
            purpose=purpose,
            status=wanted,
            decision_seq=state.ledger_seq if state else None,
            revoked_at=revoked_at,
            now=now,
        )
    return queued
