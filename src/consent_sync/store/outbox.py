"""The outbox, for the pusher: claiming due writes, and what happens when one lands or fails;
for operators: listing rows and giving dead letters another go."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from consent_sync.domain.model import Conflict, ConflictKind, LinkKey, Side, Status, Targets
from consent_sync.domain.records import Created
from consent_sync.store import conflicts
from consent_sync.store.db import Transactions
from consent_sync.store.errors import OutboxItemNotFoundError
from consent_sync.store.queueing import OutboxState, requeue_if_changed
from consent_sync.store.settle import link_created, mark_written_many
from consent_sync.store.tables import (
    ConsentStateRow,
    DeliveryRow,
    LinkRow,
    OutboxRow,
    ShadowRow,
    SubjectRow,
)
from consent_sync.store.types import utc

STORE_SIDE = "consent-sync"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One value to write to one record, as the pusher sees it."""

    id: int
    link_id: int
    link: LinkKey
    purpose: str
    status: Status
    attempts: int
    decision_seq: int | None
    revoked_at: (
        datetime | None
    )  # the SLA clock: the denial, or the record's first sighting if later
    #: The record's normalized email as last read, for systems that address a write by email
    #: (personal data: kept out of repr and logs).
    email: str | None = field(default=None, repr=False)


def due(
    session: Session,
    system: str,
    limit: int,
    now: datetime,
    *,
    claim: bool = True,
    only: Status | None = None,
) -> list[OutboxItem]:
    """Pending writes to `system` whose time has come (`only`: of one status), oldest first,
    claimed for writing.

    Each claimed value is noted in its shadow as written ahead of the write: if the process dies
    after the system took the value but before `mark_written`, the value read back is still
    recognised as our own echo, never as a newer change made in the system. `claim=False` only
    looks (the pusher reads those records back before it claims and writes).
    """
    query = (
        select(OutboxRow, LinkRow)
        .join(LinkRow, col(LinkRow.id) == col(OutboxRow.link_id))
        .where(
            OutboxRow.system == system,
            OutboxRow.state == OutboxState.PENDING,
            OutboxRow.next_attempt_at <= now,
        )
    )
    if only is not None:
        query = query.where(OutboxRow.status == only.value)
    rows = session.exec(
        query.order_by(col(OutboxRow.next_attempt_at), col(OutboxRow.id)).limit(limit)
    ).all()
    items = [_item(row, link) for row, link in rows]
    if not claim:
        return items
    for item in items:
        shadow = session.get(ShadowRow, (item.link_id, item.purpose)) or ShadowRow(
            link_id=item.link_id, purpose=item.purpose
        )
        shadow.last_written = item.status.value
        session.add(shadow)
    return items


def _item(row: OutboxRow, link: LinkRow) -> OutboxItem:
    if row.id is None:
        raise RuntimeError("an outbox row has no id")
    return OutboxItem(
        id=row.id,
        link_id=row.link_id,
        link=LinkKey(link.system, link.object_type, link.record_id),
        purpose=row.purpose,
        status=Status(row.status),
        attempts=row.attempts,
        decision_seq=row.decision_seq,
        revoked_at=row.revoked_at,
        email=link.email,
    )


def lock_subject_of_link(session: Session, link_id: int) -> uuid.UUID:
    """Lock the subject a link belongs to (PostgreSQL), as ingestion does, and return its id."""
    subject_id = session.exec(select(LinkRow.subject_id).where(LinkRow.id == link_id)).one()
    session.exec(select(SubjectRow.id).where(SubjectRow.id == subject_id).with_for_update()).one()
    return subject_id


def mark_written(
    session: Session, item: OutboxItem, now: datetime, targets: Targets | None = None
) -> None:
    """The system accepted the write: update the shadow, log the delivery, drop the row.

    If the canonical value changed while the write was in flight, the newer value is queued
    (as the field holds it: `targets`, None meaning every field holds every status as is).
    """
    subject_id = lock_subject_of_link(session, item.link_id)
    shadow = session.get(ShadowRow, (item.link_id, item.purpose)) or ShadowRow(
        link_id=item.link_id, purpose=item.purpose
    )
    shadow.last_written = shadow.last_seen = item.status.value
    shadow.last_written_at = shadow.last_seen_at = now
    session.add(shadow)
    session.add(
        DeliveryRow(
            link_id=item.link_id,
            purpose=item.purpose,
            status=item.status.value,
            decision_seq=item.decision_seq,
            revoked_at=item.revoked_at,
            applied_at=now,
        )
    )
    row = session.get(OutboxRow, item.id)
    if row is not None and row.state == OutboxState.PENDING and row.status == item.status.value:
        session.delete(row)
        session.flush()
    state = session.get(ConsentStateRow, (subject_id, item.purpose))
    if state is None:
        return
    requeue_if_changed(
        session,
        link_id=item.link_id,
        link=item.link,
        purpose=item.purpose,
        written=item.status,
        canonical=Status(state.status),
        decision_seq=state.ledger_seq,
        decided_at=state.decided_at,
        targets=targets,
        now=now,
    )


def mark_withheld(session: Session, item: OutboxItem, reason: str, now: datetime) -> int:
    """The target cannot store the value with its decision's evidence: nothing was written.

    The row is kept as withheld (not retried for this decision) and a `grant_not_representable`
    conflict (info) says why; returns its id.
    """
    subject_id = lock_subject_of_link(session, item.link_id)
    row = _pending(session, item)
    if row.status == item.status.value:
        row.state, row.last_error, row.updated_at = OutboxState.WITHHELD, reason[:2000], now
        session.add(row)
    shadow = session.get(ShadowRow, (item.link_id, item.purpose))
    if shadow is not None and shadow.last_written == item.status.value:
        shadow.last_written = None  # claimed by `due`, never written
        session.add(shadow)
    held = Status(shadow.last_seen) if shadow and shadow.last_seen else Status.UNKNOWN
    conflict = Conflict(
        kind=ConflictKind.GRANT_NOT_REPRESENTABLE,
        purpose=item.purpose,
        sides=(
            Side(STORE_SIDE, item.status, None),
            Side(item.link.system, held, shadow.last_seen_at if shadow else None, item.link),
        ),
        rule="honest_evidence",
        message=f"{item.link.system} was not sent {item.purpose}={item.status}: {reason}",
        link=item.link,
        detail={"outbox_id": item.id, "decision_seq": item.decision_seq, "reason": reason[:2000]},
    )
    return conflicts.record(session, subject_id, conflict, item.link_id, now)


def mark_retry(
    session: Session, item: OutboxItem, error: str, next_at: datetime, now: datetime
) -> None:
    """A transient failure: count the attempt and try again at `next_at`."""
    row = _pending(session, item)
    if row.status != item.status.value:
        return  # re-coalesced to a newer value meanwhile: that one starts afresh
    row.attempts += 1
    row.last_error, row.next_attempt_at, row.updated_at = error[:2000], next_at, now
    session.add(row)


def mark_dead(session: Session, item: OutboxItem, error: str, now: datetime) -> int:
    """A permanent failure: dead-letter the row and record a `push_rejected` conflict (its id)."""
    subject_id = lock_subject_of_link(session, item.link_id)
    row = _pending(session, item)
    attempts = row.attempts + 1
    if row.status == item.status.value:
        row.attempts, row.last_error, row.updated_at = attempts, error[:2000], now
        row.state = OutboxState.DEAD
        session.add(row)
    shadow = session.get(ShadowRow, (item.link_id, item.purpose))
    held = Status(shadow.last_seen) if shadow and shadow.last_seen else Status.UNKNOWN
    conflict = Conflict(
        kind=ConflictKind.PUSH_REJECTED,
        purpose=item.purpose,
        sides=(
            Side(STORE_SIDE, item.status, item.revoked_at),
            Side(item.link.system, held, shadow.last_seen_at if shadow else None, item.link),
        ),
        rule="push_rejected",
        message=f"{item.link.system} refused writing {item.purpose}={item.status}: {error}",
        link=item.link,
        detail={"outbox_id": item.id, "attempts": attempts, "error": error[:2000]},
    )
    return conflicts.record(session, subject_id, conflict, item.link_id, now)


def requeue(session: Session, outbox_id: int, now: datetime) -> None:
    """Give a dead-lettered write another go (superseded by a pending one if there is one)."""
    row = session.get(OutboxRow, outbox_id)
    if row is None:
        raise OutboxItemNotFoundError(outbox_id)
    if row.state != OutboxState.DEAD:
        return
    lock_subject_of_link(session, row.link_id)
    newer = session.exec(
        select(OutboxRow.id).where(
            OutboxRow.link_id == row.link_id,
            OutboxRow.purpose == row.purpose,
            OutboxRow.state == OutboxState.PENDING,
        )
    ).first()
    if newer is not None:
        session.delete(row)
        return
    row.state, row.attempts = OutboxState.PENDING, 0
    row.next_attempt_at, row.updated_at = now, now
    session.add(row)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An outbox row as an operator reviews it (`outbox list`, the API's dead letters)."""

    id: int
    system: str
    link: str  # system/object/record id: the record, never the person's email
    purpose: str
    status: str  # the value to write
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    revoked_at: datetime | None  # when the denial being written was decided (SLA clock)
    created_at: datetime
    updated_at: datetime


def _entry(row: OutboxRow, link: LinkRow) -> OutboxEntry:
    if row.id is None:
        raise RuntimeError("an outbox row has no id")
    return OutboxEntry(
        id=row.id,
        system=row.system,
        link=f"{link.system}/{link.object_type}/{link.record_id}",
        purpose=row.purpose,
        status=row.status,
        state=OutboxState(row.state),
        attempts=row.attempts,
        next_attempt_at=utc(row.next_attempt_at),
        last_error=row.last_error,
        revoked_at=utc(row.revoked_at) if row.revoked_at else None,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )


def listing(
    session: Session, *, state: OutboxState | None = None, system: str | None = None
) -> Iterator[OutboxEntry]:
    """Outbox rows oldest first, of one state and one system or all, streamed."""
    query = select(OutboxRow, LinkRow).join(LinkRow, col(LinkRow.id) == col(OutboxRow.link_id))
    if state is not None:
        query = query.where(OutboxRow.state == state)
    if system is not None:
        query = query.where(OutboxRow.system == system)
    for row, link in session.exec(
        query.order_by(col(OutboxRow.id)).execution_options(yield_per=500)
    ):
        yield _entry(row, link)


def entry(session: Session, outbox_id: int) -> OutboxEntry:
    """One outbox row; OutboxItemNotFoundError if there is none with this id."""
    found = session.exec(
        select(OutboxRow, LinkRow)
        .join(LinkRow, col(LinkRow.id) == col(OutboxRow.link_id))
        .where(OutboxRow.id == outbox_id)
    ).first()
    if found is None:
        raise OutboxItemNotFoundError(outbox_id)
    return _entry(*found)


def requeue_dead(session: Session, now: datetime, system: str | None = None) -> list[int]:
    """Give every dead-lettered write (of one system, or all) another go; their ids."""
    query = select(OutboxRow.id).where(OutboxRow.state == OutboxState.DEAD)
    if system is not None:
        query = query.where(OutboxRow.system == system)
    ids = [outbox_id for outbox_id in session.exec(query.order_by(col(OutboxRow.id))) if outbox_id]
    for outbox_id in ids:
        requeue(session, outbox_id, now)
    return ids


def _pending(session: Session, item: OutboxItem) -> OutboxRow:
    row = session.get(OutboxRow, item.id)
    if row is None or row.state != OutboxState.PENDING:
        raise OutboxItemNotFoundError(item.id)
    return row


class Outbox:
    """The outbox, for the pusher (`store.outbox`).

    Each method is one transaction around this module's function of that name (`pending` is
    `due` without claiming).
    """

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def due(
        self, system: str, limit: int, now: datetime, *, only: Status | None = None
    ) -> list[OutboxItem]:
        """Claim up to `limit` pending writes to `system` due at `now` (`only`: of one status),
        oldest first.

        Call right before writing them: each value is noted as written ahead of the write, so
        its echo is recognised even if the process dies before `mark_written`.
        """
        with self._transactions.write() as session:
            return due(session, system, limit, utc(now), only=only)

    def pending(
        self, system: str, limit: int, now: datetime, *, only: Status | None = None
    ) -> list[OutboxItem]:
        """Like `due`, without claiming: which records the pusher should read back first."""
        with self._transactions.read() as session:
            return due(session, system, limit, utc(now), claim=False, only=only)

    def mark_written(self, item: OutboxItem, now: datetime, targets: Targets | None = None) -> None:
        """The system applied the write: shadow and delivery updated, row removed."""
        with self._transactions.write() as session:
            mark_written(session, item, utc(now), targets)

    def mark_written_many(
        self,
        items: Sequence[OutboxItem],
        now: datetime,
        targets: Targets | None = None,
        created: Sequence[tuple[OutboxItem, Created]] = (),
    ) -> None:
        """A write batch landed: every item settled as `mark_written` would, and the records
        the writes created beside them (`created`: with the item whose write made each) linked
        with what was written (`settle.link_created`), in one transaction."""
        with self._transactions.write() as session:
            mark_written_many(session, items, utc(now), targets)
            if created:
                link_created(session, created, utc(now))

    def mark_withheld(self, item: OutboxItem, reason: str, now: datetime) -> int:
        """Nothing was written: the target cannot store the value with its decision's evidence.

        Kept as withheld for that decision, with a `grant_not_representable` conflict (its id).
        """
        with self._transactions.write() as session:
            return mark_withheld(session, item, reason, utc(now))

    def mark_retry(self, item: OutboxItem, error: str, next_at: datetime, now: datetime) -> None:
        """A transient failure: try again at `next_at`."""
        with self._transactions.write() as session:
            mark_retry(session, item, error, utc(next_at), utc(now))

    def mark_dead(self, item: OutboxItem, error: str, now: datetime) -> int:
        """A permanent failure: dead-letter it and record a `push_rejected` conflict (its id)."""
        with self._transactions.write() as session:
            return mark_dead(session, item, error, utc(now))

    def requeue(self, outbox_id: int, now: datetime) -> None:
        """Give a dead-lettered write another go."""
        with self._transactions.write() as session:
            requeue(session, outbox_id, utc(now))

    def requeue_dead(self, now: datetime, system: str | None = None) -> list[int]:
        """Move every dead letter (of one system, or all) back to pending, due now; their ids."""
        with self._transactions.write() as session:
            return requeue_dead(session, utc(now), system)

    def listing(
        self, *, state: OutboxState | None = None, system: str | None = None
    ) -> Iterator[OutboxEntry]:
        """Outbox rows oldest first (of one state, one system), for review; streamed."""
        with self._transactions.read() as session:
            yield from listing(session, state=state, system=system)

    def entry(self, outbox_id: int) -> OutboxEntry:
        """One outbox row; OutboxItemNotFoundError if there is none with this id."""
        with self._transactions.read() as session:
            return entry(session, outbox_id)
