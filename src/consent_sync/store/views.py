"""Read models, and the `Views` facet: what the CLI, the API and the metrics read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from consent_sync.domain.identity import normalize_email
from consent_sync.domain.model import ConflictKind, Evidence
from consent_sync.store import conflicts, coordination, ledger
from consent_sync.store.db import Transactions
from consent_sync.store.errors import SubjectNotFoundError
from consent_sync.store.ledger import LedgerCheck
from consent_sync.store.links import find_subject
from consent_sync.store.queueing import OutboxState
from consent_sync.store.tables import (
    ConflictRow,
    ConsentStateRow,
    CursorRow,
    DeliveryRow,
    LedgerRow,
    LinkRow,
    OutboxRow,
    SubjectRow,
    SyncRunRow,
)
from consent_sync.store.types import utc


@dataclass(frozen=True, slots=True)
class Delivery:
    """A value applied to one record; for a denial, how long it took to land."""

    link: str
    purpose: str
    status: str
    applied_at: datetime
    revoked_at: datetime | None

    @property
    def time_to_apply_s(self) -> float | None:
        if self.revoked_at is None:
            return None
        return (self.applied_at - self.revoked_at).total_seconds()


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """A write still queued for one record."""

    link: str
    purpose: str
    status: str
    state: OutboxState
    attempts: int
    last_error: str | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class SubjectView:
    """Everything the store knows about one person."""

    subject: SubjectRow
    links: tuple[LinkRow, ...]
    states: tuple[ConsentStateRow, ...]
    timeline: tuple[LedgerRow, ...]
    pending: tuple[PendingWrite, ...]
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class SystemBacklog:
    """What one system still owes: pending and dead-lettered writes, the oldest unapplied denial."""

    pending: int = 0
    dead: int = 0
    oldest_revocation: datetime | None = None  # decision time of the oldest denial not yet written


def subject_view(session: Session, subject: SubjectRow) -> SubjectView:
    """Links, state per purpose, the ledger timeline, pending writes and deliveries of a subject."""
    links = tuple(
        session.exec(
            select(LinkRow).where(LinkRow.subject_id == subject.id).order_by(col(LinkRow.id))
        )
    )
    names = {link.id: _key(link) for link in links}
    states = tuple(
        session.exec(
            select(ConsentStateRow)
            .where(ConsentStateRow.subject_id == subject.id)
            .order_by(col(ConsentStateRow.purpose))
        )
    )
    link_ids = list(names)
    pending = tuple(
        PendingWrite(
            names[row.link_id],
            row.purpose,
            row.status,
            OutboxState(row.state),
            row.attempts,
            row.last_error,
            row.revoked_at,
        )
        for row in session.exec(
            select(OutboxRow)
            .where(col(OutboxRow.link_id).in_(link_ids))
            .order_by(col(OutboxRow.id))
        )
    )
    deliveries = tuple(
        Delivery(names[row.link_id], row.purpose, row.status, row.applied_at, row.revoked_at)
        for row in session.exec(
            select(DeliveryRow)
            .where(col(DeliveryRow.link_id).in_(link_ids))
            .order_by(col(DeliveryRow.id))
        )
    )
    timeline = tuple(ledger.entries(session, subject_id=subject.id))
    return SubjectView(subject, links, states, timeline, pending, deliveries)


def _key(link: LinkRow) -> str:
    return f"{link.system}/{link.object_type}/{link.record_id}"


class Views:
    """What the CLI, the API and the metrics read (`store.views`), each in one read transaction."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def backlog(self) -> dict[str, SystemBacklog]:
        """Per system: outbox depth (pending, dead) and the oldest denial still to be written."""
        query = select(
            OutboxRow.system,
            OutboxRow.state,
            func.count(),
            func.min(col(OutboxRow.revoked_at)),
        ).group_by(col(OutboxRow.system), col(OutboxRow.state))
        out: dict[str, SystemBacklog] = {}
        with self._transactions.read() as session:
            for system, state, count, oldest in session.exec(query):
                seen = out.get(system, SystemBacklog())
                if state == OutboxState.PENDING:
                    out[system] = SystemBacklog(count, seen.dead, oldest and utc(oldest))
                elif state == OutboxState.DEAD:
                    out[system] = SystemBacklog(seen.pending, count, seen.oldest_revocation)
        return out

    def cursors(self) -> dict[tuple[str, str], datetime]:
        """Every (system, object) watermark."""
        with self._transactions.read() as session:
            rows = session.exec(select(CursorRow)).all()
            return {(row.system, row.object_type): utc(row.watermark) for row in rows}

    def recent_runs(self, system: str | None = None, limit: int = 20) -> list[SyncRunRow]:
        """The newest sync runs, of one system or all."""
        with self._transactions.read() as session:
            return coordination.recent_runs(session, system, limit)

    def subject(self, email: str) -> SubjectView:
        """Everything known about the person with this email; SubjectNotFoundError if nobody."""
        normalized = normalize_email(email)
        with self._transactions.read() as session:
            subject = find_subject(session, normalized)
            if subject is None:
                raise SubjectNotFoundError(normalized)
            return subject_view(session, subject)

    def conflicts(
        self, *, open_only: bool = False, kind: ConflictKind | None = None
    ) -> Iterator[ConflictRow]:
        """Conflicts oldest first, streamed."""
        with self._transactions.read() as session:
            yield from conflicts.listing(session, open_only=open_only, kind=kind)

    def conflict(self, conflict_id: int) -> ConflictRow:
        """One conflict; ConflictNotFoundError if there is none with this id."""
        with self._transactions.read() as session:
            return conflicts.get(session, conflict_id)

    def ledger(self, since: datetime | None = None) -> Iterator[LedgerRow]:
        """Ledger rows in sequence order, streamed; optionally those recorded since a time."""
        with self._transactions.read() as session:
            yield from ledger.entries(session, since=since)

    def evidence(self, seqs: Sequence[int]) -> dict[int, Evidence]:
        """The evidence each of these ledger rows recorded with its decision."""
        if not seqs:
            return {}
        with self._transactions.read() as session:
            rows = session.exec(
                select(LedgerRow.seq, LedgerRow.evidence).where(
                    col(LedgerRow.seq).in_(sorted(set(seqs)))
                )
            )
            return {seq: Evidence.from_json(data) for seq, data in rows}

    def verify_ledger(self) -> LedgerCheck:
        """Recompute the hash chain and report the first bad row, if any."""
        with self._transactions.read() as session:
            return ledger.verify(session)
