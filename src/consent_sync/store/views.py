"""Read models: what the CLI and the API show about a subject."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from consent_sync.store import ledger
from consent_sync.store.queueing import OutboxState
from consent_sync.store.tables import (
    ConsentStateRow,
    DeliveryRow,
    LedgerRow,
    LinkRow,
    OutboxRow,
    SubjectRow,
)


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
