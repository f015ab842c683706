"""Drift: a system still holding a value other than the canonical one after a read-back.

The sweep runs every value it reads back through the rule first (so a change the incremental
pull missed is decided like any other). What is still off after that, with no pending write to
explain it, is drift: the canonical value is queued again and a `drift` conflict (info) says so.
A value dead-lettered for that record stays with the human who owns the `push_rejected` conflict.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select, tuple_

from consent_sync.domain.model import Conflict, ConflictKind, LinkKey, Side, Status, Targets
from consent_sync.store import conflicts, queueing
from consent_sync.store.tables import ConsentStateRow, LinkRow, OutboxRow

Held = tuple[LinkKey, str, Status]


def repair(
    session: Session, held: Sequence[Held], now: datetime, targets: Targets | None = None
) -> int:
    """Queue the canonical value wherever `held` disagrees unexplained; returns how many.

    `targets` says what each field holds for a canonical status (None: the status itself).
    """
    keys = {(k.system, k.object_type, k.record_id) for k, _, _ in held}
    if not keys:
        return 0
    rows = session.exec(
        select(LinkRow).where(
            col(LinkRow.active),
            tuple_(LinkRow.system, LinkRow.object_type, LinkRow.record_id).in_(list(keys)),
        )
    ).all()
    found_links = {(r.system, r.object_type, r.record_id): r for r in rows}
    subject_ids = {r.subject_id for r in rows}
    states = {
        (s.subject_id, s.purpose): s
        for s in session.exec(
            select(ConsentStateRow).where(col(ConsentStateRow.subject_id).in_(subject_ids))
        )
    }
    link_ids = [r.id for r in rows if r.id is not None]
    queued: dict[tuple[int, str], list[queueing.Queued]] = {}
    for row in session.exec(select(OutboxRow).where(col(OutboxRow.link_id).in_(link_ids))):
        queued.setdefault((row.link_id, row.purpose), []).append(queueing.Queued.of(row))
    plan = queueing.Plan()
    found: list[tuple[uuid.UUID | None, Conflict, int | None]] = []
    for key, purpose, status in held:
        link = found_links.get((key.system, key.object_type, key.record_id))
        if link is None or link.id is None:
            continue
        state = states.get((link.subject_id, purpose))
        if state is None or state.status == Status.UNKNOWN.value:
            continue
        canonical = Status(state.status)
        wanted = queueing.held_on(targets, key, purpose, canonical)
        if wanted is None or wanted is status:
            continue
        rows_of_pair = queued.setdefault((link.id, purpose), [])
        if any(r.state is queueing.OutboxState.PENDING for r in rows_of_pair):
            continue  # a pending write explains it
        if not plan.queue(
            rows_of_pair,
            link_id=link.id,
            system=link.system,
            purpose=purpose,
            status=wanted,
            decision_seq=state.ledger_seq,
            revoked_at=state.decided_at if canonical is Status.DENIED else None,
            now=now,
        ):
            continue  # dead-lettered: a push_rejected conflict already asks a human
        conflict = Conflict(
            ConflictKind.DRIFT,
            purpose,
            (
                Side(key.system, status, None, key),
                Side(state.source or "store", canonical, state.decided_at),
            ),
            "drift",
            f"{key} holds {status.value} after a read-back; the canonical value "
            f"{canonical.value} was queued again",
            link=key,
        )
        found.append((link.subject_id, conflict, link.id))
    queueing.write(session, plan)
    conflicts.record_many(session, found, now)
    return len(found)
