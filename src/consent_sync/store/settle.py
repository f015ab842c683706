"""Settling a whole write batch the system accepted, in one transaction.

`outbox.mark_written` settles one record: three lookups, a subject lock and a flush, each its
own transaction; a backfill that writes thousands of values spent a fifth of its time there.
`mark_written_many` does the same for a batch with a few `IN` queries and one statement per kind
of change (shadows upserted, deliveries inserted, outbox rows deleted), so the cost per record
is a row in a multi-row statement, not a round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, delete, insert, select

from consent_sync.domain.model import LinkKey, Status, Targets
from consent_sync.store.links import add_link, find_link
from consent_sync.store.queueing import OutboxState, requeue_if_changed
from consent_sync.store.snapshot import chunks, lock, upsert
from consent_sync.store.tables import CONSENT_STATE, LINKS, OUTBOX, SHADOWS, DeliveryRow

if TYPE_CHECKING:  # outbox.py imports this module
    from sqlmodel import Session

    from consent_sync.domain.records import Created
    from consent_sync.store.outbox import OutboxItem

_WRITTEN = ("last_seen", "last_seen_at", "last_written", "last_written_at")


def mark_written_many(
    session: Session, items: Sequence[OutboxItem], now: datetime, targets: Targets | None = None
) -> None:
    """Every item's write landed: shadows, deliveries and outbox rows as `mark_written` leaves
    them, for the whole batch at once.

    The subjects are locked in id order first, as ingestion locks them, so a batch and a page
    of the same people on another replica queue up rather than interleave. A value the canonical
    state moved past while the write was in flight is queued again, as `mark_written` does.
    """
    if not items:
        return
    latest = {(i.link_id, i.purpose): i for i in items}  # one pending row per pair anyway
    subjects = _subjects(session, sorted({i.link_id for i in latest.values()}))
    lock(session, sorted(set(subjects.values())))
    upsert(
        session,
        SHADOWS,
        ("link_id", "purpose"),
        [_written_shadow(i.link_id, i.purpose, i.status, now) for i in latest.values()],
        _WRITTEN,
    )
    session.execute(
        insert(DeliveryRow),
        [
            {
                "link_id": i.link_id,
                "purpose": i.purpose,
                "status": i.status.value,
                "decision_seq": i.decision_seq,
                "revoked_at": i.revoked_at,
                "applied_at": now,
            }
            for i in latest.values()
        ],
    )
    # Only the row that still asks for the value written: one re-coalesced to a newer value
    # meanwhile stays pending.
    session.execute(
        delete(OUTBOX).where(
            and_(
                OUTBOX.c.id == bindparam("_id"),
                OUTBOX.c.state == OutboxState.PENDING.value,
                OUTBOX.c.status == bindparam("_status"),
            )
        ),
        [{"_id": i.id, "_status": i.status.value} for i in latest.values()],
    )
    canonical = _canonical(session, {(subjects[i.link_id], i.purpose) for i in latest.values()})
    for item in latest.values():
        state = canonical.get((subjects[item.link_id], item.purpose))
        if state is None:
            continue
        status, ledger_seq, decided_at = state
        requeue_if_changed(
            session,
            link_id=item.link_id,
            link=item.link,
            purpose=item.purpose,
            written=item.status,
            canonical=status,
            decision_seq=ledger_seq,
            decided_at=decided_at,
            targets=targets,
            now=now,
        )


def link_created(
    session: Session, created: Sequence[tuple[OutboxItem, Created]], now: datetime
) -> int:
    """Records a write created beside the record it wrote become links of that record's
    subject now, their shadows holding what was written (as a written record's are left): their
    first read is the echo of the write, even if the canonical state moved on meanwhile
    (docs/design.md, "Salesforce consent records"). A record a read linked already keeps its
    link and shadow. Returns how many links were made."""
    owners: dict[int, tuple[uuid.UUID, str | None]] = {}
    for part in chunks(sorted({item.link_id for item, _ in created})):
        query = select(LINKS.c.id, LINKS.c.subject_id, LINKS.c.email).where(LINKS.c.id.in_(part))
        owners.update({row.id: (row.subject_id, row.email) for row in session.execute(query)})
    shadows: list[dict[str, object]] = []
    for item, made in created:
        owner = owners.get(item.link_id)
        key = LinkKey(item.link.system, made.object_type, made.record_id)
        if owner is None or find_link(session, key) is not None:
            continue
        subject_id, email = owner
        link = add_link(session, key, subject_id, email, now)
        shadows.append(_written_shadow(link.id, made.purpose, made.status, now))
    upsert(session, SHADOWS, ("link_id", "purpose"), shadows, _WRITTEN)
    return len(shadows)


def _written_shadow(
    link_id: int | None, purpose: str, status: Status, now: datetime
) -> dict[str, object]:
    """The shadow row of a value written now: seen as written, so its read back is no change."""
    return {
        "link_id": link_id,
        "purpose": purpose,
        "last_seen": status.value,
        "last_seen_at": now,
        "last_written": status.value,
        "last_written_at": now,
    }


def _subjects(session: Session, link_ids: Sequence[int]) -> dict[int, uuid.UUID]:
    found: dict[int, uuid.UUID] = {}
    for part in chunks(link_ids):
        rows = session.execute(select(LINKS.c.id, LINKS.c.subject_id).where(LINKS.c.id.in_(part)))
        found.update({row.id: row.subject_id for row in rows})
    return found


def _canonical(
    session: Session, pairs: set[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], tuple[Status, int | None, datetime | None]]:
    """The canonical (status, ledger seq, decided at) of each (subject, purpose) that has one."""
    found: dict[tuple[uuid.UUID, str], tuple[Status, int | None, datetime | None]] = {}
    query = select(
        CONSENT_STATE.c.subject_id,
        CONSENT_STATE.c.purpose,
        CONSENT_STATE.c.status,
        CONSENT_STATE.c.ledger_seq,
        CONSENT_STATE.c.decided_at,
    )
    for part in chunks(sorted({subject for subject, _ in pairs})):
        for row in session.execute(query.where(CONSENT_STATE.c.subject_id.in_(part))):
            if (row.subject_id, row.purpose) in pairs:
                found[(row.subject_id, row.purpose)] = (
                    Status(row.status),
                    row.ledger_seq,
                    row.decided_at,
                )
    return found
