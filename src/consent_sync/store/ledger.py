"""The ledger: every accepted decision, append-only and hash-chained.

Triggers (migrations 0001 and 0002) refuse changing or removing a row and let the chain head
only move forward onto the newest row. Whoever can drop triggers can still cut the chain and
move the head back, or rewrite it and re-hash; an `Anchor` (`SEQ:HASH`) kept outside the
database catches both: `verify(session, expect=anchor)` (docs/operations.md, "Anchoring the
ledger").
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from consent_sync.domain.model import Decision, Status
from consent_sync.store import bulk, statistics
from consent_sync.store.errors import StoreError
from consent_sync.store.tables import (
    CONSENT_STATE,
    GENESIS_HASH,
    LEDGER,
    LEDGER_HEAD,
    LedgerRow,
)
from consent_sync.store.types import utc

_STREAM = 1000
_MAX_SEQ = 2**63 - 1  # BIGINT
_ANCHOR = re.compile(r"(0|[1-9][0-9]{0,18}):([0-9a-f]{64})")
_HASH = re.compile(r"[0-9a-f]{64}")
_EXPLICIT = tuple(status.value for status in Status if status.explicit)
_UNREADABLE = (ValueError, TypeError)  # bad JSON, a timestamp or uuid that does not parse


class LedgerAnchorError(StoreError):
    """An anchor, its signature or a key to sign or check it with is malformed."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """One ledger row named by its sequence number and hash, written `SEQ:HASH`.

    Kept outside the database (docs/operations.md), it proves later that the chain still holds
    that row unchanged and continues from it.
    """

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`SEQ:HASH` as `ledger head` prints it; LedgerAnchorError saying why otherwise."""
        found = _ANCHOR.fullmatch(text.strip())
        if found is None or int(found[1]) > _MAX_SEQ:
            shown = text if len(text) <= 80 else f"{text[:77]}..."
            raise LedgerAnchorError(
                f"{shown!r} is not SEQ:HASH (a row number, a colon and that row's hash in "
                "64 lowercase hex digits, as `consent-sync ledger head` prints it)"
            )
        return cls(int(found[1]), found[2])


GENESIS = Anchor(0, GENESIS_HASH)  # the head of an empty ledger


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


#: The canonical JSON of a row's content (what `json.dumps` with these options writes); one
#: encoder for every row, rather than one built per call while a page chains thousands.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _content_hash(content: dict[str, Any]) -> str:
    canonical = _CANONICAL.encode(content)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append(
    session: Session, decisions: Sequence[tuple[uuid.UUID, Decision]], recorded_at: datetime
) -> list[int]:
    """Append one row per (subject, decision), in order, and return their sequence numbers.

    Locks the chain head until the transaction ends, so concurrent appends queue up; the rows
    are chained here and written with one statement compiled once (`bulk`), the head with one
    more.
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
    bulk.executemany(session, "ledger", lambda: insert(LEDGER), rows)
    session.execute(
        update(LEDGER_HEAD).where(LEDGER_HEAD.c.id == 1).values(seq=seq, hash=previous_hash)
    )
    statistics.appended(session, len(rows))  # a backfill's tables outgrow their statistics
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
    """The first thing that does not verify: a ledger row, the chain head or a canonical state."""

    seq: int | None  # the ledger row concerned; None when no row is (a missing chain head)
    reason: str
    about: str = ""  # what the reason is about when it is not the ledger row itself

    def __str__(self) -> str:
        return (
            f"{self.about} {self.reason}" if self.about else f"ledger row {self.seq}: {self.reason}"
        )


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    """The result of recomputing the chain: how many rows verified, the newest of them as an
    anchor, and the first problem."""

    rows: int
    problem: LedgerProblem | None
    head: Anchor = GENESIS

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(session: Session, expect: Anchor | None = None) -> LedgerCheck:
    """Recompute the whole chain; stop at the first altered, unlinked or missing row.

    Then the chain head must name the newest row, every canonical state the row that decided
    it, and `expect`, when given, a row of the chain with that very hash. Reads one snapshot.
    """
    if session.get_bind().dialect.name == "postgresql":
        # One snapshot for the walk and the checks after it, so appends committed meanwhile
        # are neither seen as rows beyond the head nor as a head beyond the rows.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    count, last_hash, problem = _walk(session, expect)
    if problem is None:
        problem = _anchor_problem(count, expect) or _head_problem(session, count, last_hash)
    if problem is None:
        problem = _state_problem(session)
    return LedgerCheck(count, problem, Anchor(count, last_hash))


def _walk(session: Session, expect: Anchor | None) -> tuple[int, str, LedgerProblem | None]:
    """The rows that verify in sequence, the newest one's hash, and the first bad row."""
    expected, previous_hash, count = 1, GENESIS_HASH, 0
    if expect is not None and expect.seq == 0 and expect.hash != GENESIS_HASH:
        reason = f"is the empty chain's head: the anchored head {expect} carries another hash"
        return 0, GENESIS_HASH, LedgerProblem(0, reason)
    try:
        for row in entries(session):
            problem = _row_problem(row, expected, previous_hash)
            if problem is None and expect is not None and row.seq == expect.seq != 0:
                problem = _anchored_row_problem(row, expect)
            if problem is not None:
                return count, previous_hash, problem
            previous_hash, expected, count = row.hash, expected + 1, count + 1
    except _UNREADABLE as exc:  # a value its column type cannot read back (SQLite keeps any)
        reason = f"cannot be read: a value was damaged outside consent-sync ({type(exc).__name__})"
        return count, previous_hash, LedgerProblem(_first_unreadable(session, expected), reason)
    return count, previous_hash, None


def _first_unreadable(session: Session, start: int) -> int:
    """The first row from `start` that does not load (rows are loaded a batch at a time)."""
    seqs = session.execute(
        core_select(LEDGER.c.seq).where(LEDGER.c.seq >= start).order_by(LEDGER.c.seq).limit(_STREAM)
    ).scalars()
    for seq in list(seqs):
        try:
            session.exec(select(LedgerRow).where(LedgerRow.seq == seq)).one()
        except _UNREADABLE:
            return int(seq)
    return start


def _row_problem(row: LedgerRow, expected: int, previous_hash: str) -> LedgerProblem | None:
    if row.seq != expected:
        return LedgerProblem(expected, f"is missing (next is {row.seq})")
    if row.prev_hash != previous_hash:
        reason = f"does not link to row {row.seq - 1} (its prev_hash differs)"
        return LedgerProblem(row.seq, reason)
    if row_hash(row) != row.hash:
        return LedgerProblem(row.seq, "content was altered (hash differs)")
    return None


def _anchored_row_problem(row: LedgerRow, expect: Anchor) -> LedgerProblem | None:
    if row.hash == expect.hash:
        return None
    reason = f"differs from the anchored head {expect}: the chain was rewritten up to it"
    return LedgerProblem(row.seq, reason)


def _anchor_problem(count: int, expect: Anchor | None) -> LedgerProblem | None:
    if expect is None or expect.seq <= count:
        return None
    reason = (
        f"is missing: the chain ends at row {count}, before the anchored head {expect}: "
        "rows were cut off"
    )
    return LedgerProblem(count + 1, reason)


def _head_problem(session: Session, count: int, last_hash: str) -> LedgerProblem | None:
    """The chain head must name the newest row: it catches removal of the newest rows."""
    head = session.execute(
        select(LEDGER_HEAD.c.seq, LEDGER_HEAD.c.hash).where(LEDGER_HEAD.c.id == 1)
    ).first()
    about = "the chain head (table ledger_head)"
    if head is None:
        reason = "is missing: its one row was deleted outside consent-sync"
        return LedgerProblem(None, reason, about=about)
    seq, head_hash = head
    if type(seq) is not int or not isinstance(head_hash, str) or not _HASH.fullmatch(head_hash):
        shown = f"{str(seq)[:24]!r}:{str(head_hash)[:70]!r}"
        reason = f"is damaged: it holds {shown}, not a row number and a hash"
        return LedgerProblem(None, reason, about=about)
    if seq > count:
        return LedgerProblem(count + 1, f"is missing (the chain head records {seq} rows)")
    if seq < count:
        reason = f"lies beyond the chain head (seq {seq}): it was not appended by the store"
        return LedgerProblem(seq + 1, reason)
    if head_hash != last_hash:
        return LedgerProblem(count, "does not match the chain head's hash")
    return None


def _state_problem(session: Session) -> LedgerProblem | None:
    """Every canonical state must point at the chain row that decided it: same subject,
    purpose and status. A grant or denial with no deciding row was written by nobody."""
    state, row = CONSENT_STATE.c, LEDGER.c
    mismatched = or_(
        row.seq.is_(None),
        row.subject_id != state.subject_id,
        row.purpose != state.purpose,
        row.status != state.status,
    )
    bad = or_(
        and_(state.ledger_seq.is_(None), state.status.in_(_EXPLICIT)),
        and_(state.ledger_seq.is_not(None), mismatched),
    )
    found = session.execute(
        core_select(
            state.subject_id,
            state.purpose,
            state.status,
            state.ledger_seq,
            row.seq.label("row_seq"),
            row.subject_id.label("row_subject_id"),
            row.purpose.label("row_purpose"),
            row.status.label("row_status"),
        )
        .select_from(CONSENT_STATE.outerjoin(LEDGER, row.seq == state.ledger_seq))
        .where(bad)
        .order_by(state.subject_id, state.purpose)
        .limit(1)
    ).first()
    if found is None:
        return None
    about = f"the canonical state of subject {found.subject_id}, purpose {found.purpose}"
    seq = found.ledger_seq
    if seq is None:
        reason = f"is {found.status}, but names no ledger row: no recorded decision made it"
    elif found.row_seq is None:
        reason = f"points at ledger row {seq}, which is not in the chain"
    elif found.row_subject_id != found.subject_id:
        reason = f"points at ledger row {seq}, which decided for another subject"
    elif found.row_purpose != found.purpose:
        reason = f"points at ledger row {seq}, which decided another purpose"
    else:
        reason = (
            f"is {found.status}, but the ledger row it points at ({seq}) decided {found.row_status}"
        )
    return LedgerProblem(seq, reason, about=about)
