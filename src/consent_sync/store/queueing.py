"""Queueing writes: one pending outbox row per (link, purpose), a newer value coalesced into it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, delete, select

from consent_sync.domain.model import LinkKey, Status, Targets
from consent_sync.store.tables import OUTBOX, OutboxRow


class OutboxState(StrEnum):
    """A row's state as the `outbox.state` column holds it (docs/design.md, "Vocabulary")."""

    PENDING = "pending"  # to be written at `next_attempt_at`; retried with backoff
    DEAD = "dead"  # refused for good: a `push_rejected` conflict asks a human (or `requeue`)
    WITHHELD = "withheld"  # the target cannot store it with its decision's evidence: not retried


@dataclass(slots=True)
class Queued:
    """An outbox row of one (link, purpose) as ingestion sees it: its state, value and decision."""

    id: int | None
    state: OutboxState
    status: str
    decision_seq: int | None = None

    @classmethod
    def of(cls, row: _StoredRow) -> Queued:
        """The ingestion view of an outbox row (an `OutboxRow` or a selected table row)."""
        return cls(row.id, OutboxState(row.state), row.status, row.decision_seq)


class _StoredRow(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def state(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def decision_seq(self) -> int | None: ...


def coalesce(rows: Sequence[Queued], status: Status, decision_seq: int | None) -> Queued | None:
    """The row a write of `status` goes into: the pending one, a withheld one, or a new one.

    None if nothing changes: the pending row already holds it, the value is dead-lettered for
    this link, or it was withheld for this very decision (a newer decision may carry the evidence
    the target needs, so it is tried again).
    """
    pending = next((row for row in rows if row.state is OutboxState.PENDING), None)
    if pending is not None:
        return None if pending.status == status.value else pending
    if any(row.state is OutboxState.DEAD and row.status == status.value for row in rows):
        return None
    withheld = next((row for row in rows if row.state is OutboxState.WITHHELD), None)
    if withheld is None:
        return Queued(None, OutboxState.PENDING, status.value, decision_seq)
    if withheld.status == status.value and withheld.decision_seq == decision_seq:
        return None
    return withheld


def queue(
    session: Session,
    *,
    link_id: int,
    system: str,
    purpose: str,
    status: Status,
    decision_seq: int | None,
    revoked_at: datetime | None,
    now: datetime,
) -> bool:
    """Ask for `status` to be written to a link; coalesces into its one pending row.

    Returns whether anything changed. A value already dead-lettered for this link is not
    queued again until someone requeues it. It goes through `Plan`, as ingestion's batches do.
    """
    rows = session.exec(
        select(OutboxRow).where(OutboxRow.link_id == link_id, OutboxRow.purpose == purpose)
    ).all()
    plan = Plan()
    if not plan.queue(
        [Queued.of(row) for row in rows],
        link_id=link_id,
        system=system,
        purpose=purpose,
        status=status,
        decision_seq=decision_seq,
        revoked_at=revoked_at,
        now=now,
    ):
        return False
    write(session, plan)
    return True


@dataclass(slots=True)
class Plan:
    """Outbox changes of a batch, written together: settled pairs, re-coalesced and new rows."""

    settled: list[tuple[int, str]] = field(default_factory=list)  # (link id, purpose)
    updated: list[dict[str, Any]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)

    def queue(
        self,
        rows: list[Queued],
        *,
        link_id: int,
        system: str,
        purpose: str,
        status: Status,
        decision_seq: int | None,
        revoked_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Plan a write of `status` to a link against its loaded rows of (link, purpose), which
        it keeps up to date; whether anything changed (see `coalesce`). Every write is queued here.
        """
        target = coalesce(rows, status, decision_seq)
        if target is None:
            return False
        values: dict[str, Any] = {
            "state": OutboxState.PENDING,
            "status": status.value,
            "decision_seq": decision_seq,
            "revoked_at": revoked_at,
            "attempts": 0,
            "last_error": None,
            "next_attempt_at": now,
            "updated_at": now,
        }
        if target.id is None:
            rows.append(target)
            extra = {"link_id": link_id, "system": system, "purpose": purpose}
            self.created.append({**extra, "created_at": now, **values})
        else:
            self.updated.append({"_id": target.id, **values})
        target.state, target.status, target.decision_seq = (
            OutboxState.PENDING,
            status.value,
            decision_seq,
        )
        return True


def write(session: Session, plan: Plan) -> None:
    """Apply a batch's outbox changes: deletes, then updates, then inserts (one statement each)."""
    if plan.settled:
        session.execute(
            delete(OUTBOX).where(
                OUTBOX.c.link_id == bindparam("_link_id"), OUTBOX.c.purpose == bindparam("_purpose")
            ),
            [{"_link_id": link_id, "_purpose": purpose} for link_id, purpose in plan.settled],
        )
    if plan.updated:
        session.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("_id")), plan.updated)
    if plan.created:
        session.execute(insert(OUTBOX), plan.created)


def held_on(targets: Targets | None, link: LinkKey, purpose: str, status: Status) -> Status | None:
    """What `link`'s field reads as once `status` is written to it; None if it cannot be."""
    if targets is None:
        return status
    return targets.get((link.system, link.object_type, purpose), {}).get(status)


def requeue_if_changed(
    session: Session,
    *,
    link_id: int,
    link: LinkKey,
    purpose: str,
    written: Status,
    canonical: Status,
    decision_seq: int | None,
    decided_at: datetime | None,
    targets: Targets | None,
    now: datetime,
) -> None:
    """After `written` landed: queue the canonical value again if it changed while in flight
    (as the field holds it; nothing if the field cannot hold it or already holds it)."""
    if canonical is Status.UNKNOWN:
        return
    wanted = held_on(targets, link, purpose, canonical)
    if wanted is not None and wanted is not written:
        queue(
            session,
            link_id=link_id,
            system=link.system,
            purpose=purpose,
            status=wanted,
            decision_seq=decision_seq,
            revoked_at=decided_at if canonical is Status.DENIED else None,
            now=now,
        )
