"""Paged reads for the HTTP API (`store.browse`): conflicts, runs, dead letters, deliveries.

Every listing is keyset-paged on its id (`after`), so a page costs one indexed query however
deep it is, and rows that arrive meanwhile never shift a page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select

from consent_sync.domain.model import ConflictKind, LinkKey, Severity
from consent_sync.store.db import Transactions
from consent_sync.store.errors import OutboxItemNotFoundError, SyncRunNotFoundError
from consent_sync.store.queueing import OutboxState
from consent_sync.store.tables import ConflictRow, DeliveryRow, LinkRow, OutboxRow, SyncRunRow

#: The conflict kinds that name one record a run could not read or write as asked.
REJECT_KINDS = (
    ConflictKind.PUSH_REJECTED,
    ConflictKind.UNMAPPABLE_VALUE,
    ConflictKind.GRANT_NOT_REPRESENTABLE,
)


@dataclass(frozen=True, slots=True)
class ConflictFilter:
    """Which conflicts a listing shows; None means any."""

    status: str | None = None  # open | resolved
    kind: ConflictKind | None = None
    severity: Severity | None = None
    purpose: str | None = None
    system: str | None = None
    subject_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A write a system refused for good, waiting for a human."""

    id: int
    system: str
    link: LinkKey
    purpose: str
    status: str
    attempts: int
    last_error: str | None
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AppliedRevocation:
    """A denial written to one record, and when it landed."""

    decision_seq: int
    link: LinkKey
    revoked_at: datetime | None
    applied_at: datetime


class Browse:
    """What the API pages through, each method one read transaction."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def conflicts(self, where: ConflictFilter, *, after: int, limit: int) -> list[ConflictRow]:
        """Conflicts matching `where` with ids above `after`, oldest first, at most `limit`."""
        query = select(ConflictRow).where(col(ConflictRow.id) > after)
        if where.status is not None:
            query = query.where(ConflictRow.status == where.status)
        if where.kind is not None:
            query = query.where(ConflictRow.kind == where.kind.value)
        if where.severity is not None:
            query = query.where(ConflictRow.severity == where.severity.value)
        if where.purpose is not None:
            query = query.where(ConflictRow.purpose == where.purpose)
        if where.system is not None:
            query = query.where(
                col(ConflictRow.link).startswith(f"{where.system}/", autoescape=True)
            )
        if where.subject_id is not None:
            query = query.where(ConflictRow.subject_id == where.subject_id)
        with self._transactions.read() as session:
            return list(session.exec(query.order_by(col(ConflictRow.id)).limit(limit)))

    def runs(
        self, *, system: str | None, kind: str | None, before: datetime | None, limit: int
    ) -> list[SyncRunRow]:
        """Sync runs newest first, optionally of one system or kind, started before `before`."""
        query = select(SyncRunRow)
        if system is not None:
            query = query.where(SyncRunRow.system == system)
        if kind is not None:
            query = query.where(SyncRunRow.kind == kind)
        if before is not None:
            query = query.where(col(SyncRunRow.started_at) < before)
        query = query.order_by(col(SyncRunRow.started_at).desc(), col(SyncRunRow.id)).limit(limit)
        with self._transactions.read() as session:
            return list(session.exec(query))

    def run(self, run_id: uuid.UUID) -> tuple[SyncRunRow, list[ConflictRow]]:
        """One run and the per-record rejections its system recorded while it ran."""
        with self._transactions.read() as session:
            run = session.get(SyncRunRow, run_id)
            if run is None:
                raise SyncRunNotFoundError(run_id)
            query = select(ConflictRow).where(
                col(ConflictRow.kind).in_([k.value for k in REJECT_KINDS]),
                col(ConflictRow.link).startswith(f"{run.system}/", autoescape=True),
                col(ConflictRow.created_at) >= run.started_at,
            )
            if run.finished_at is not None:
                query = query.where(col(ConflictRow.created_at) <= run.finished_at)
            rejects = list(session.exec(query.order_by(col(ConflictRow.id)).limit(1000)))
            return run, rejects

    def latest_runs(self) -> dict[tuple[str, str], SyncRunRow]:
        """Per (system, kind), the newest finished run."""
        newest = (
            select(SyncRunRow.system, SyncRunRow.kind, func.max(SyncRunRow.started_at).label("at"))
            .where(col(SyncRunRow.finished_at).is_not(None))
            .group_by(col(SyncRunRow.system), col(SyncRunRow.kind))
            .subquery()
        )
        query = select(SyncRunRow).join(
            newest,
            (col(SyncRunRow.system) == newest.c.system)
            & (col(SyncRunRow.kind) == newest.c.kind)
            & (col(SyncRunRow.started_at) == newest.c.at),
        )
        with self._transactions.read() as session:
            return {(row.system, row.kind): row for row in session.exec(query)}

    def dead_letters(
        self, *, system: str | None = None, after: int = 0, limit: int = 100
    ) -> list[DeadLetter]:
        """Dead-lettered writes with ids above `after`, oldest first."""
        query = (
            select(OutboxRow, LinkRow)
            .join(LinkRow, col(LinkRow.id) == col(OutboxRow.link_id))
            .where(OutboxRow.state == OutboxState.DEAD, col(OutboxRow.id) > after)
        )
        if system is not None:
            query = query.where(OutboxRow.system == system)
        with self._transactions.read() as session:
            rows = session.exec(query.order_by(col(OutboxRow.id)).limit(limit)).all()
            return [_dead(row, link) for row, link in rows]

    def dead_letter(self, outbox_id: int) -> DeadLetter:
        """One dead-lettered write; OutboxItemNotFoundError unless that row is dead."""
        query = (
            select(OutboxRow, LinkRow)
            .join(LinkRow, col(LinkRow.id) == col(OutboxRow.link_id))
            .where(OutboxRow.id == outbox_id, OutboxRow.state == OutboxState.DEAD)
        )
        with self._transactions.read() as session:
            found = session.exec(query).first()
            if found is None:
                raise OutboxItemNotFoundError(outbox_id)
            return _dead(*found)

    def applied_revocations(self, subject_id: uuid.UUID) -> list[AppliedRevocation]:
        """Every denial written to one of this subject's records, by decision, with its time."""
        query = (
            select(DeliveryRow, LinkRow)
            .join(LinkRow, col(LinkRow.id) == col(DeliveryRow.link_id))
            .where(
                LinkRow.subject_id == subject_id,
                DeliveryRow.status == "denied",
                col(DeliveryRow.decision_seq).is_not(None),
            )
            .order_by(col(DeliveryRow.id))
        )
        with self._transactions.read() as session:
            return [
                AppliedRevocation(
                    delivery.decision_seq or 0,
                    LinkKey(link.system, link.object_type, link.record_id),
                    delivery.revoked_at,
                    delivery.applied_at,
                )
                for delivery, link in session.exec(query)
            ]


def _dead(row: OutboxRow, link: LinkRow) -> DeadLetter:
    return DeadLetter(
        id=row.id or 0,
        system=row.system,
        link=LinkKey(link.system, link.object_type, link.record_id),
        purpose=row.purpose,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
