"""Cursors, leases and sync runs: resuming cycles, sharing work between replicas, run history."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from consent_sync.store.db import Transactions
from consent_sync.store.errors import SyncRunNotFoundError
from consent_sync.store.tables import CursorRow, LeaseRow, SyncRunRow
from consent_sync.store.types import utc


def cursor(session: Session, system: str, object_type: str) -> datetime | None:
    """The incremental-sync watermark of (system, object), or None before the first pull."""
    row = session.get(CursorRow, (system, object_type))
    return row.watermark if row is not None else None


def resume_token(session: Session, system: str, object_type: str) -> str | None:
    """The token the next pull of (system, object) resumes from, None if there is none."""
    row = session.get(CursorRow, (system, object_type))
    return row.resume_token if row is not None else None


def advance_cursor(
    session: Session,
    system: str,
    object_type: str,
    watermark: datetime | None,
    now: datetime,
    resume: str | None = None,
) -> datetime:
    """Move the watermark forward to `watermark` (never back; None: where it is, or `now` for
    a first cursor) and store `resume` if given; return where the watermark stands."""
    row = session.get(CursorRow, (system, object_type))
    if row is None:
        row = CursorRow(
            system=system,
            object_type=object_type,
            watermark=watermark if watermark is not None else now,
            updated_at=now,
        )
    elif watermark is not None and watermark > row.watermark:
        row.watermark, row.updated_at = watermark, now
    if resume is not None:
        row.resume_token, row.updated_at = resume, now
    session.add(row)
    return row.watermark


def acquire_lease(session: Session, name: str, holder: str, until: datetime, now: datetime) -> bool:
    """Claim (or renew) the lease `name` for `holder` until `until`.

    Succeeds when the lease is free, expired, or already held by `holder`; one atomic
    statement, so two replicas racing for it cannot both win.
    """
    table: Any = LeaseRow.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(name=name, acquired_by=holder, acquired_until=until)
        .on_conflict_do_update(
            index_elements=["name"],
            set_={"acquired_by": holder, "acquired_until": until},
            where=(table.c.acquired_until <= now) | (table.c.acquired_by == holder),
        )
        .returning(table.c.name)
    )
    return session.execute(statement).first() is not None


def release_lease(session: Session, name: str, holder: str) -> bool:
    """Give up the lease if `holder` has it; False if someone else does (or nobody)."""
    row = session.get(LeaseRow, name)
    if row is None or row.acquired_by != holder:
        return False
    session.delete(row)
    return True


def start_run(
    session: Session, system: str, kind: str, now: datetime, runner: str | None = None
) -> uuid.UUID:
    """Record that a pull, push or sweep of `system` started (by `runner`, a daemon replica's
    holder id, when one ran it); returns the run id."""
    row = SyncRunRow(system=system, kind=kind, started_at=now, runner=runner)
    session.add(row)
    session.flush()
    return row.id


def finish_run(
    session: Session,
    run_id: uuid.UUID,
    counts: Mapping[str, int],
    error: str | None,
    now: datetime,
) -> None:
    """Record how a run ended: its counts, and the error that stopped it if any."""
    row = session.get(SyncRunRow, run_id)
    if row is None:
        raise SyncRunNotFoundError(run_id)
    row.finished_at, row.counts, row.error = now, dict(counts), error[:2000] if error else None
    session.add(row)


def recent_runs(session: Session, system: str | None, limit: int) -> list[SyncRunRow]:
    """The newest runs, of one system or all."""
    query = select(SyncRunRow).order_by(col(SyncRunRow.started_at).desc()).limit(limit)
    if system is not None:
        query = query.where(SyncRunRow.system == system)
    return list(session.exec(query))


def housekeep(session: Session, now: datetime, keep_runs: timedelta) -> dict[str, int]:
    """Drop finished sync runs older than `keep_runs` and leases expired for a day or more."""
    runs = session.execute(
        delete(SyncRunRow).where(
            col(SyncRunRow.finished_at).is_not(None),
            col(SyncRunRow.finished_at) < now - keep_runs,
        )
    )
    leases = session.execute(
        delete(LeaseRow).where(col(LeaseRow.acquired_until) < now - timedelta(days=1))
    )
    return {"sync_runs": _count(runs), "leases": _count(leases)}


def _count(result: object) -> int:
    """Rows a DELETE removed (a CursorResult's rowcount; -1 or absent reads as 0)."""
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


class Coordination:
    """Cursors, leases and runs, for the engine and the scheduler (`store.coordination`).

    Each method is one transaction, most around this module's function of the same name.
    """

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def cursor(self, system: str, object_type: str) -> datetime | None:
        """The incremental-sync watermark of (system, object), None before the first pull."""
        with self._transactions.read() as session:
            return cursor(session, system, object_type)

    def resume_token(self, system: str, object_type: str) -> str | None:
        """The token the next pull resumes from (a change-tracking link), None if none."""
        with self._transactions.read() as session:
            return resume_token(session, system, object_type)

    def advance_cursor(
        self,
        system: str,
        object_type: str,
        watermark: datetime | None,
        now: datetime,
        *,
        resume: str | None = None,
    ) -> datetime:
        """Move the watermark forward (never back) and keep `resume` for the next pull; call
        only after the page is committed."""
        stamp = utc(watermark) if watermark is not None else None
        with self._transactions.write() as session:
            return advance_cursor(session, system, object_type, stamp, utc(now), resume)

    def acquire_lease(self, name: str, holder: str, until: datetime, now: datetime) -> bool:
        """Claim or renew a lease; False while another holder's lease is unexpired."""
        with self._transactions.write() as session:
            return acquire_lease(session, name, holder, utc(until), utc(now))

    def release_lease(self, name: str, holder: str) -> bool:
        """Give up a lease held by `holder`."""
        with self._transactions.write() as session:
            return release_lease(session, name, holder)

    def lease(self, name: str) -> LeaseRow | None:
        """The lease `name` as it stands (holder and expiry), None when nobody holds it."""
        with self._transactions.read() as session:
            return session.get(LeaseRow, name)

    def take_over_lease(self, name: str, holder: str, previous: str, until: datetime) -> bool:
        """Take the lease from `previous` (known dead) before it expires; False if it moved on."""
        table = LeaseRow.__table__  # type: ignore[attr-defined]
        statement = (
            update(table)
            .where(table.c.name == name, table.c.acquired_by == previous)
            .values(acquired_by=holder, acquired_until=utc(until))
        )
        with self._transactions.write() as session:
            return session.execute(statement).rowcount == 1  # type: ignore[attr-defined,no-any-return]

    def start_run(
        self, system: str, kind: str, now: datetime, runner: str | None = None
    ) -> uuid.UUID:
        """Record the start of a pull, push or sweep (by the replica `runner`); returns its id."""
        with self._transactions.write() as session:
            return start_run(session, system, kind, utc(now), runner)

    def finish_run(
        self, run_id: uuid.UUID, counts: Mapping[str, int], error: str | None, now: datetime
    ) -> None:
        """Record a run's counts and the error that ended it, if any."""
        with self._transactions.write() as session:
            finish_run(session, run_id, counts, error, utc(now))

    def housekeep(self, now: datetime, keep_runs: timedelta = timedelta(days=30)) -> dict[str, int]:
        """Prune run history older than `keep_runs` and long-expired leases (counts removed)."""
        with self._transactions.write() as session:
            return housekeep(session, utc(now), keep_runs)
