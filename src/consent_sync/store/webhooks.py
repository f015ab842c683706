"""Webhook deliveries: events de-duplicated by key, and the records they named queued for a read.

A webhook sender retries a delivery it thinks failed, so one event can arrive many times. Each
event's key is kept (`webhook_events`); an event whose key is already there queues nothing. The
records the new events name wait in `named_reads` until the system's targeted read has read
them, so a restart between the answer to the sender and the read loses none. A record named
again while a read of it runs gets a new generation and stays queued for the next read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from consent_sync.store.db import Transactions
from consent_sync.store.tables import NamedReadRow, WebhookEventRow
from consent_sync.store.types import utc

#: How long an event key is remembered: longer than a sender keeps retrying (HubSpot: ~1 day).
KEEP_EVENTS = timedelta(days=3)
#: (object type, record id) -> whether a deletion named it.
Named = dict[tuple[str, str], bool]


@dataclass(frozen=True, slots=True)
class WebhookNotice:
    """One event of a webhook: the record it names, whether it says the record is gone, its key.

    `event_key` is None when the sender gave the event no id: such an event is never de-duplicated.
    """

    object_type: str
    record_id: str
    deleted: bool = False
    event_key: str | None = None


@dataclass(frozen=True, slots=True)
class PendingReads:
    """Records queued for one system's read, with the generation each was taken at."""

    system: str
    named: Named
    generations: Mapping[tuple[str, str], int]


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def accept(session: Session, system: str, notices: Sequence[WebhookNotice], now: datetime) -> Named:
    """Record the events' keys and queue the records new events name; what was queued."""
    keys = {n.event_key for n in notices if n.event_key is not None}
    fresh: set[str] = set()
    if keys:
        table: Any = WebhookEventRow.__table__  # type: ignore[attr-defined]
        statement = (
            _insert(session)(table)
            .values([{"system": system, "event_key": k, "received_at": now} for k in sorted(keys)])
            .on_conflict_do_nothing(index_elements=["system", "event_key"])
            .returning(table.c.event_key)
        )
        fresh = set(session.execute(statement).scalars())
    named: Named = {}
    for notice in notices:
        if notice.event_key is None or notice.event_key in fresh:
            key = (notice.object_type, notice.record_id)
            named[key] = named.get(key, False) or notice.deleted
    if named:
        queue: Any = NamedReadRow.__table__  # type: ignore[attr-defined]
        insert = _insert(session)(queue)
        statement = insert.values(
            [
                {
                    "system": system,
                    "object_type": object_type,
                    "record_id": record_id,
                    "deleted": deleted,
                    "generation": 1,
                    "queued_at": now,
                }
                for (object_type, record_id), deleted in sorted(named.items())
            ]
        ).on_conflict_do_update(
            index_elements=["system", "object_type", "record_id"],
            set_={
                "deleted": queue.c.deleted | insert.excluded.deleted,
                "generation": queue.c.generation + 1,
            },
        )
        session.execute(statement)
    return named


def pending(session: Session, system: str, limit: int) -> PendingReads:
    """The `limit` records of `system` queued longest, left in the queue."""
    rows = session.exec(
        select(NamedReadRow)
        .where(NamedReadRow.system == system)
        .order_by(col(NamedReadRow.queued_at), col(NamedReadRow.record_id))
        .limit(limit)
    ).all()
    return PendingReads(
        system,
        {(r.object_type, r.record_id): r.deleted for r in rows},
        {(r.object_type, r.record_id): r.generation for r in rows},
    )


def read_done(session: Session, taken: PendingReads) -> None:
    """Remove the records `taken` covered, unless one was named again since."""
    if not taken.generations:
        return
    table: Any = NamedReadRow.__table__  # type: ignore[attr-defined]
    statement = delete(table).where(
        table.c.system == taken.system,
        table.c.object_type == bindparam("o"),
        table.c.record_id == bindparam("r"),
        table.c.generation == bindparam("g"),
    )
    session.execute(
        statement,
        [{"o": o, "r": r, "g": g} for (o, r), g in taken.generations.items()],
    )


class Webhooks:
    """Webhook de-duplication and the queue of named records (`store.webhooks`).

    Each method is one transaction around this module's function of the same name.
    """

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def accept(self, system: str, notices: Sequence[WebhookNotice], now: datetime) -> Named:
        """Queue the records that events not seen before name; returns what was queued."""
        with self._transactions.write() as session:
            return accept(session, system, notices, utc(now))

    def pending(self, system: str, limit: int = 500) -> PendingReads:
        """The records of `system` waiting for a read (oldest first), still queued."""
        with self._transactions.read() as session:
            return pending(session, system, limit)

    def read_done(self, taken: PendingReads) -> None:
        """The read of `taken` succeeded: unqueue its records (those not named again since)."""
        with self._transactions.write() as session:
            read_done(session, taken)

    def prune(self, now: datetime, keep: timedelta = KEEP_EVENTS) -> dict[str, int]:
        """Forget event keys older than `keep`, and give up reads queued that long (a record
        whose read keeps failing must not hold the queue; polling reads changed records anyway).
        Counts removed, by table."""
        before = utc(now) - keep
        with self._transactions.write() as session:
            events = session.execute(
                delete(WebhookEventRow).where(col(WebhookEventRow.received_at) < before)
            )
            reads = session.execute(
                delete(NamedReadRow).where(col(NamedReadRow.queued_at) < before)
            )
            return {"webhook_events": _count(events), "named_reads": _count(reads)}


def _count(result: object) -> int:
    """Rows a DELETE removed (a CursorResult's rowcount; -1 or absent reads as 0)."""
    return max(int(getattr(result, "rowcount", 0) or 0), 0)
