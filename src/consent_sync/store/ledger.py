"""The ledger: every accepted decision, append-only and hash-chained."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from consent_sync.domain.model import Decision
from consent_sync.store.tables import GENESIS_HASH, LEDGER, LEDGER_HEAD, LedgerHeadRow, LedgerRow
from consent_sync.store.types import utc

_STREAM = 1000


def row_hash(row: LedgerRow) -> str:
    """sha256 of the row's canonical JSON, which includes the previous row's hash."""
    return _content_hash(
        {
            "seq": row.seq,
            "subject": str(row.subject_id),
            "purpose": row.purpose,
            "status": row.status,
            "previous": row.previous,
            "decided_at": utc(row.decided_at).isoformat(),
            "time_kind": row.time_kind,
            "recorded_at": utc(row.recorded_at).isoformat(),
            "source": row.source,
            "link": row.link,
            "rule": row.rule,
            "evidence": row.evidence,
            "prev_hash": row.prev_hash,
        }
    )


def _content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append(
    session: Session, decisions: Sequence[tuple[uuid.UUID, Decision]], recorded_at: datetime
) -> list[int]:
    """Append one row per (subject, decision), in order, and return their sequence numbers.

    Locks the chain head until the transaction ends, so concurrent appends queue up; the rows
    are chained here and written with one statement, the head with one more.
    """
    if not decisions:
        return []
    head = session.execute(
        select(LEDGER_HEAD.c.seq, LEDGER_HEAD.c.hash).where(LEDGER_HEAD.c.id == 1).with_for_update()
    ).one()
    seq, previous_hash = head.seq, head.hash
    recorded = utc(recorded_at)
    rows: list[dict[str, Any]] = []
    for subject_id, decision in decisions:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "subject": str(subject_id),
            "purpose": decision.purpose,
            "status": decision.status.value,
            "previous": decision.previous.value,
            "decided_at": utc(decision.decided_at).isoformat(),
            "time_kind": decision.time_kind.value,
            "recorded_at": recorded.isoformat(),
            "source": decision.source,
            "link": str(decision.link) if decision.link else None,
            "rule": decision.rule,
            "evidence": decision.evidence.to_json(),
            "prev_hash": previous_hash,
        }
        previous_hash = _content_hash(row)
        del row["subject"]
        row.update(
            subject_id=subject_id,
            decided_at=utc(decision.decided_at),
            recorded_at=recorded,
            hash=previous_hash,
        )
        rows.append(row)
    session.execute(insert(LEDGER), rows)
    session.execute(
        update(LEDGER_HEAD).where(LEDGER_HEAD.c.id == 1).values(seq=seq, hash=previous_hash)
    )
    return [row["seq"] for row in rows]


def entries(
    session: Session, *, since: datetime | None = None, subject_id: uuid.UUID | None = None
) -> Iterator[LedgerRow]:
    """Ledger rows in sequence order, streamed; optionally recorded since a time or of a subject."""
    query = select(LedgerRow).order_by(col(LedgerRow.seq))
    if since is not None:
        query = query.where(LedgerRow.recorded_at >= utc(since))
    if subject_id is not None:
        query = query.where(LedgerRow.subject_id == subject_id)
    yield from session.exec(query.execution_options(yield_per=_STREAM))


@dataclass(frozen=True, slots=True)
class LedgerProblem:
    """The first row where the chain does not verify, and what is wrong with it."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"ledger row {self.seq}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    """The result of recomputing the chain: how many rows verified, and the first problem."""

    rows: int
    problem: LedgerProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(session: Session) -> LedgerCheck:
    """Recompute the whole chain; stop at the first altered, unlinked or missing row."""
    expected, previous_hash, count = 1, GENESIS_HASH, 0
    for row in entries(session):
        if row.seq != expected:
            return LedgerCheck(count, LedgerProblem(expected, f"is missing (next is {row.seq})"))
        if row.prev_hash != previous_hash:
            reason = f"does not link to row {row.seq - 1} (its prev_hash differs)"
            return LedgerCheck(count, LedgerProblem(row.seq, reason))
        if row_hash(row) != row.hash:
            return LedgerCheck(count, LedgerProblem(row.seq, "content was altered (hash differs)"))
        previous_hash, expected, count = row.hash, expected + 1, count + 1
    head = session.exec(select(LedgerHeadRow).where(LedgerHeadRow.id == 1)).one()
    if head.seq >= expected:
        reason = f"is missing (the chain head records {head.seq} rows)"
        return LedgerCheck(count, LedgerProblem(expected, reason))
    if head.seq < count:
        reason = f"lies beyond the chain head (seq {head.seq}): it was not appended by the store"
        return LedgerCheck(head.seq, LedgerProblem(head.seq + 1, reason))
    if head.hash != previous_hash:
        return LedgerCheck(count, LedgerProblem(count, "does not match the chain head's hash"))
    return LedgerCheck(count, None)
