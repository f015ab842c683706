"""A batch of subjects as ingestion sees them: read with a few `IN` queries, changed in memory,
written back with one statement per kind of change.

Holds what the rule needs per subject: canonical states, links, shadows and outbox rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import String, Table, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import ClauseElement
from sqlmodel import Session

from consent_sync.domain.model import Canonical, Resolution, Shadow, Status
from consent_sync.store import bulk
from consent_sync.store.queueing import Queued
from consent_sync.store.tables import CONSENT_STATE, LINKS, OUTBOX, SHADOWS, SUBJECTS

#: Values per `IN` list: well inside SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 500
_T = TypeVar("_T")


def chunks(values: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    """`values` in slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def lock(session: Session, subject_ids: Sequence[uuid.UUID]) -> None:
    """Hold the subjects until the transaction ends, so replicas cannot interleave (PostgreSQL).

    Locks are taken in id order, the same on every replica, so two batches sharing subjects
    queue up instead of deadlocking. SQLite needs nothing more: every write transaction holds
    the database's writer lock.
    """
    for part in chunks(sorted(subject_ids)):
        session.execute(
            select(SUBJECTS.c.id)
            .where(SUBJECTS.c.id.in_(part))
            .order_by(SUBJECTS.c.id)
            .with_for_update()
        ).all()


@dataclass(frozen=True, slots=True)
class Link:
    """A link of a subject, as propagation needs it."""

    id: int
    system: str
    active: bool
    object_type: str = ""
    record_id: str = ""
    created_at: datetime | None = None  # when consent-sync first saw the record


@dataclass(slots=True)
class ShadowState:
    """A shadow row in memory; `changed` if it must be written back, `forgot` if that clears
    `last_written` (otherwise the write leaves it be: `outbox.due` sets it without the lock)."""

    last_seen: str | None = None
    last_seen_at: datetime | None = None
    last_written: str | None = None
    last_written_at: datetime | None = None
    changed: bool = False
    forgot: bool = False

    def shadow(self) -> Shadow:
        return Shadow(
            Status(self.last_seen) if self.last_seen else None,
            Status(self.last_written) if self.last_written else None,
        )


@dataclass(slots=True)
class State:
    """A canonical state row in memory, like `ShadowState`."""

    status: str
    decided_at: datetime | None = None
    time_kind: str | None = None
    source: str | None = None
    imported: bool = False
    ledger_seq: int | None = None
    updated_at: datetime | None = None
    changed: bool = False

    def canonical(self) -> Canonical:
        return Canonical(Status(self.status), self.decided_at, self.source, self.imported)


_STATE_FIELDS = (
    "status",
    "decided_at",
    "time_kind",
    "source",
    "imported",
    "ledger_seq",
    "updated_at",
)
_SHADOW_FIELDS = ("last_seen", "last_seen_at", "last_written", "last_written_at")
_STATE_COLUMNS = [
    type_coerce(CONSENT_STATE.c.subject_id, String),  # as stored; `load` maps it to the UUID
    *(CONSENT_STATE.c[name] for name in ("purpose", *_STATE_FIELDS)),
]
_LINK_COLUMNS = [
    LINKS.c.id,
    type_coerce(LINKS.c.subject_id, String),
    *(LINKS.c[name] for name in ("system", "active", "object_type", "record_id", "created_at")),
]
_SHADOW_COLUMNS = [SHADOWS.c[name] for name in ("link_id", "purpose", *_SHADOW_FIELDS)]


@dataclass(slots=True)
class Snapshot:
    """The loaded rows of a batch's subjects, keyed as the rule looks them up."""

    states: dict[tuple[uuid.UUID, str], State] = field(default_factory=dict)
    links: dict[uuid.UUID, list[Link]] = field(default_factory=dict)
    shadows: dict[tuple[int, str], ShadowState] = field(default_factory=dict)
    outbox: dict[tuple[int, str], list[Queued]] = field(default_factory=dict)

    def canonical(self, subject_id: uuid.UUID, purpose: str) -> Canonical:
        state = self.states.get((subject_id, purpose))
        return state.canonical() if state is not None else Canonical()

    def shadow(self, link_id: int | None, purpose: str) -> Shadow:
        row = self.shadows.get((link_id, purpose)) if link_id is not None else None
        return row.shadow() if row is not None else Shadow()

    def save_state(
        self,
        subject_id: uuid.UUID,
        resolution: Resolution,
        seqs: Sequence[int],
        now: datetime,
    ) -> State | None:
        """Record the resolution's canonical state if a decision or a change calls for it."""
        key = (subject_id, resolution.purpose)
        state, new = self.states.get(key), resolution.canonical
        if not seqs and (state is None or state.canonical() == new):
            return state
        if state is None:
            state = self.states[key] = State(status="")
        state.status, state.decided_at = new.status.value, new.decided_at
        state.source, state.imported, state.updated_at = new.source, new.imported, now
        if resolution.decisions:
            state.time_kind, state.ledger_seq = resolution.decisions[-1].time_kind.value, seqs[-1]
        state.changed = True
        return state

    def see(self, link_id: int, purpose: str, status: Status, now: datetime) -> None:
        """Note the value a system holds; a different value read back forgets our write."""
        row = self.shadows.get((link_id, purpose))
        if row is None:
            row = self.shadows[(link_id, purpose)] = ShadowState()
        if row.last_written is not None and row.last_written != status.value:
            # Our write did not land or was overwritten since. Forget it, so that a person later
            # setting that value is never mistaken for our own echo.
            row.last_written, row.forgot = None, True
        row.last_seen, row.last_seen_at, row.changed = status.value, now, True


def load(session: Session, subject_ids: Sequence[uuid.UUID]) -> Snapshot:
    """Canonical states, links, and the links' shadows and outbox rows of these subjects."""
    snapshot = Snapshot()
    for part in chunks(subject_ids):
        # The subject ids come back as the driver gives them (hex text on SQLite, a UUID on
        # PostgreSQL) and are mapped to the ids asked for, not parsed into new UUIDs per row.
        asked: dict[object, uuid.UUID] = {u.hex: u for u in part}
        asked.update((u, u) for u in part)
        # Columns in the dataclasses' field order: rows become objects positionally, without
        # a dict per row (a page loads thousands).
        # `.all()`: one fetchall from the driver, not a fetchone call per row.
        for row in session.execute(
            select(*_STATE_COLUMNS).where(CONSENT_STATE.c.subject_id.in_(part))
        ).all():
            snapshot.states[(asked[row[0]], row[1])] = State(*row[2:])
        links = select(*_LINK_COLUMNS).where(LINKS.c.subject_id.in_(part))
        for row in session.execute(links).all():
            snapshot.links.setdefault(asked[row[1]], []).append(
                Link(row[0], row[2], row[3], row[4], row[5], row[6])
            )
    link_ids = [link.id for links in snapshot.links.values() for link in links]
    for ids in chunks(link_ids):
        shadows = select(*_SHADOW_COLUMNS).where(SHADOWS.c.link_id.in_(ids))
        for row in session.execute(shadows).all():
            snapshot.shadows[(row[0], row[1])] = ShadowState(*row[2:])
        query = select(
            OUTBOX.c.id,
            OUTBOX.c.link_id,
            OUTBOX.c.purpose,
            OUTBOX.c.state,
            OUTBOX.c.status,
            OUTBOX.c.decision_seq,
        )
        for row in session.execute(query.where(OUTBOX.c.link_id.in_(ids))).all():
            snapshot.outbox.setdefault((row.link_id, row.purpose), []).append(Queued.of(row))
    return snapshot


def write(session: Session, snapshot: Snapshot) -> None:
    """Write the changed canonical states and shadows back, with an upsert statement or two."""
    states = [
        {"subject_id": subject_id, "purpose": purpose, **_values(state, _STATE_FIELDS)}
        for (subject_id, purpose), state in snapshot.states.items()
        if state.changed
    ]
    upsert(session, CONSENT_STATE, ("subject_id", "purpose"), states, _STATE_FIELDS)
    for forgot in (False, True):
        shadows = [
            {"link_id": link_id, "purpose": purpose, **_values(row, _SHADOW_FIELDS)}
            for (link_id, purpose), row in snapshot.shadows.items()
            if row.changed and row.forgot is forgot
        ]
        seen = ("last_seen", "last_seen_at", "last_written") if forgot else _SHADOW_FIELDS[:2]
        upsert(session, SHADOWS, ("link_id", "purpose"), shadows, seen)


def _values(row: State | ShadowState, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def upsert(
    session: Session,
    table: Table,
    keys: tuple[str, str],
    rows: list[dict[str, Any]],
    updated: Sequence[str],
) -> None:
    """Multi-row INSERT ... ON CONFLICT (`keys`) DO UPDATE of the `updated` columns: far fewer
    round trips than an UPDATE per row, compiled once (`bulk.executemany`). Every row holds a
    value for every column of the table."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name

    def build() -> ClauseElement:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(table)
        changed = {name: statement.excluded[name] for name in updated}
        return statement.on_conflict_do_update(index_elements=keys, set_=changed)

    key = ("upsert", table.name, keys, tuple(updated))
    bulk.executemany(session, key, build, rows)
