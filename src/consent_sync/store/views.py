"""Read models, and the `Views` facet: what the CLI, the API and the metrics read."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from consent_sync.domain.identity import normalize_email
from consent_sync.domain.model import ConflictKind, Evidence, Severity
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


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The newest finished run of one kind (pull, push, sweep, ...) of one system."""

    kind: str
    started_at: datetime
    finished_at: datetime
    error: str | None  # what ended it, None when it succeeded
    last_ok_at: datetime | None  # when a run of this kind last finished without an error


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """A system's API quota as its connector last reported it, at the end of a recorded run."""

    used: int
    limit: int
    recorded_at: datetime

    @property
    def share(self) -> float:
        """Used as a share of the limit (0 when the limit is 0)."""
        return self.used / self.limit if self.limit else 0.0


@dataclass(frozen=True, slots=True)
class ApplyTimes:
    """How long denials took from decision to the write confirmed, over some window."""

    count: int
    p50_s: float | None
    p99_s: float | None


def latest_runs(session: Session) -> dict[str, dict[str, RunSummary]]:
    """Per system and run kind: the newest finished run and when that kind last succeeded."""
    finished = col(SyncRunRow.finished_at)
    newest = select(SyncRunRow.system, SyncRunRow.kind, func.max(finished)).group_by(
        col(SyncRunRow.system), col(SyncRunRow.kind)
    )
    last_ok = {
        (system, kind): utc(at)
        for system, kind, at in session.exec(newest.where(col(SyncRunRow.error).is_(None)))
        if at is not None
    }
    out: dict[str, dict[str, RunSummary]] = {}
    for system, kind, at in session.exec(newest.where(finished.is_not(None))):
        row = session.exec(
            select(SyncRunRow)
            .where(SyncRunRow.system == system, SyncRunRow.kind == kind, finished == at)
            .limit(1)
        ).first()
        if row is None or row.finished_at is None:
            continue  # pruned meanwhile
        out.setdefault(system, {})[kind] = RunSummary(
            kind, utc(row.started_at), utc(row.finished_at), row.error, last_ok.get((system, kind))
        )
    return out


#: Keys of a sync run's counts holding the connector's quota at the run's end (sync/runs.py).
QUOTA_USED, QUOTA_LIMIT = "quota_used", "quota_limit"
_QUOTA_SCAN = 50  # runs looked back through per system for the newest quota reading


def latest_quota(session: Session) -> dict[str, QuotaUse]:
    """Per system, the quota recorded with its newest finished run that has one.

    Systems whose connector never reported a quota (nothing read yet) are absent: unknown.
    """
    out: dict[str, QuotaUse] = {}
    for system in session.exec(select(SyncRunRow.system).distinct()):
        rows = session.exec(
            select(SyncRunRow.counts, SyncRunRow.finished_at)
            .where(SyncRunRow.system == system, col(SyncRunRow.finished_at).is_not(None))
            .order_by(col(SyncRunRow.started_at).desc())
            .limit(_QUOTA_SCAN)
        )
        for counts, finished_at in rows:
            if QUOTA_LIMIT in counts and QUOTA_USED in counts and finished_at is not None:
                used, limit = int(counts[QUOTA_USED]), int(counts[QUOTA_LIMIT])
                out[system] = QuotaUse(used, limit, utc(finished_at))
                break
    return out


def open_for_review(session: Session) -> dict[str | None, int]:
    """Open needs-review conflicts per system of their record (None: not about a record)."""
    query = (
        select(LinkRow.system, func.count())
        .select_from(ConflictRow)
        .outerjoin(LinkRow, col(LinkRow.id) == col(ConflictRow.link_id))
        .where(ConflictRow.status == "open", ConflictRow.severity == Severity.NEEDS_REVIEW)
        .group_by(col(LinkRow.system))
    )
    return dict(session.exec(query).all())


def time_to_apply(session: Session, since: datetime) -> dict[str, ApplyTimes]:
    """Per system: p50 and p99 of decision → write confirmed, for denials applied since `since`.

    The database subtracts the timestamps and Python ranks plain numbers: a day after a
    backfill holds a delivery per revoked record (30,000 at 100,000 contacts), and loading each
    as a row with two timestamps parsed was most of `consent-sync status` (docs/performance.md;
    ranking in SQL with window functions was slower still on SQLite).
    """
    took = _seconds_between(session, col(DeliveryRow.revoked_at), col(DeliveryRow.applied_at))
    query = (
        select(col(LinkRow.system), took)
        .join(LinkRow, col(LinkRow.id) == col(DeliveryRow.link_id))
        .where(col(DeliveryRow.revoked_at).is_not(None), col(DeliveryRow.applied_at) >= since)
    )
    seconds: dict[str, list[float]] = {}
    for system, value in session.execute(query).all():  # one fetch (115,000 at a million)
        seconds.setdefault(system, []).append(round(float(value), 3))
    return {
        system: ApplyTimes(len(values), _percentile(values, 0.5), _percentile(values, 0.99))
        for system, values in seconds.items()
    }


def _percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile: the smallest value at least `share` of them do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _seconds_between(session: Session, start: Any, end: Any) -> Any:
    """`end - start` in seconds, computed by the database (UTC text on SQLite)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


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

    def latest_runs(self) -> dict[str, dict[str, RunSummary]]:
        """Per system and kind: the newest finished run, and when that kind last succeeded."""
        with self._transactions.read() as session:
            return latest_runs(session)

    def quota(self) -> dict[str, QuotaUse]:
        """Per system: API quota as recorded with its newest run; absent when never reported."""
        with self._transactions.read() as session:
            return latest_quota(session)

    def open_for_review(self) -> dict[str | None, int]:
        """Open needs-review conflicts per system of their record (None: no record)."""
        with self._transactions.read() as session:
            return open_for_review(session)

    def time_to_apply(self, since: datetime) -> dict[str, ApplyTimes]:
        """Per system: p50/p99 seconds from a denial's decision to its write, applied since."""
        with self._transactions.read() as session:
            return time_to_apply(session, utc(since))

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
