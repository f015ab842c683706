"""Conflicts: recording them, listing them, and closing them with a resolution."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, col, select

from consent_sync.domain.model import Conflict, ConflictKind
from consent_sync.store.errors import ConflictNotFoundError
from consent_sync.store.tables import CONFLICTS, ConflictRow

_STREAM = 500


def record(
    session: Session,
    subject_id: uuid.UUID | None,
    conflict: Conflict,
    link_id: int | None,
    now: datetime,
) -> int:
    """Store one conflict as open and return its id."""
    (conflict_id,) = record_many(session, [(subject_id, conflict, link_id)], now)
    return conflict_id


def record_many(
    session: Session,
    found: Sequence[tuple[uuid.UUID | None, Conflict, int | None]],
    now: datetime,
) -> list[int]:
    """Store conflicts of (subject, conflict, link id) as open, in one statement; their ids."""
    if not found:
        return []
    rows = [
        {
            "kind": conflict.kind.value,
            "severity": conflict.severity.value,
            "purpose": conflict.purpose or None,  # identity conflicts concern no purpose
            "subject_id": subject_id,
            "link_id": link_id,
            "link": str(conflict.link) if conflict.link else None,
            "sides": [side.to_json() for side in conflict.sides],
            "rule": conflict.rule,
            "message": conflict.message,
            "detail": json.loads(json.dumps(dict(conflict.detail), default=str)),  # JSON-safe
            "created_at": now,
            "status": "open",
        }
        for subject_id, conflict, link_id in found
    ]
    statement = insert(CONFLICTS).returning(CONFLICTS.c.id, sort_by_parameter_order=True)
    return list(session.execute(statement, rows).scalars())


def is_open(session: Session, conflict: Conflict) -> bool:
    """Whether an open conflict of the same kind, link, purpose and detail exists."""
    detail = json.loads(json.dumps(dict(conflict.detail), default=str))
    candidates = session.exec(
        select(ConflictRow).where(
            ConflictRow.status == "open",
            ConflictRow.kind == conflict.kind.value,
            ConflictRow.link == (str(conflict.link) if conflict.link else None),
            ConflictRow.purpose == (conflict.purpose or None),
        )
    )
    return any(row.detail == detail for row in candidates)


def listing(
    session: Session, *, open_only: bool = False, kind: ConflictKind | None = None
) -> Iterator[ConflictRow]:
    """Conflicts oldest first, streamed; optionally only open ones, or one kind."""
    query = select(ConflictRow).order_by(col(ConflictRow.id))
    if open_only:
        query = query.where(ConflictRow.status == "open")
    if kind is not None:
        query = query.where(ConflictRow.kind == kind.value)
    yield from session.exec(query.execution_options(yield_per=_STREAM))


def get(session: Session, conflict_id: int, *, lock: bool = False) -> ConflictRow:
    """One conflict by id; `lock` holds it until the transaction ends (PostgreSQL)."""
    query = select(ConflictRow).where(ConflictRow.id == conflict_id)
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise ConflictNotFoundError(conflict_id)
    return row


def close(
    session: Session,
    row: ConflictRow,
    *,
    by: str,
    note: str,
    resolution_seq: int | None,
    now: datetime,
) -> None:
    """Mark a conflict resolved by `by`, with the note and the ledger row that settled it."""
    row.status = "resolved"
    row.resolved_by, row.resolved_at, row.resolution_note = by, now, note
    row.resolution_seq = resolution_seq
    session.add(row)
