"""Identity resolution: which subject a CRM record belongs to.

A record is found by its id, else by its normalized email. A record never moves to another
existing subject on its own: an email change that would join it to someone else is an
`identity_ambiguous` conflict for a human (`store/relink.py` carries out the answer), and an
email that was refused links nothing (docs/design.md, "Identity").
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from consent_sync.domain.identity import MatchKeys, email_joins_other, refused_email
from consent_sync.domain.model import Conflict, LinkKey
from consent_sync.store import bulk, conflicts
from consent_sync.store.ids import uuid7
from consent_sync.store.queueing import OutboxState
from consent_sync.store.snapshot import chunks
from consent_sync.store.tables import LINKS, SUBJECTS, LinkRow, OutboxRow, ShadowRow, SubjectRow


@dataclass(frozen=True, slots=True)
class ResolvedLink:
    """A record's link row and the subject it belongs to."""

    link_id: int
    subject_id: uuid.UUID
    relinked: bool  # the record moved to a new subject (its shadows started over)


#: A conflict found while resolving, with the subject and link id it is recorded against.
Found = tuple[uuid.UUID | None, Conflict, int | None]


@dataclass(frozen=True, slots=True)
class Identified:
    """A page's records resolved to their subjects, and the identity conflicts recorded."""

    links: dict[LinkKey, ResolvedLink | None]
    conflicts: tuple[Conflict, ...]  # newly recorded: one still open is not repeated


def subject_for_email(session: Session, email: str, now: datetime) -> uuid.UUID:
    """The subject with this normalized email, created if there is none (safe under races)."""
    values: dict[str, Any] = {"id": uuid7(), "email": email, "created_at": now}
    table = SubjectRow.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=["email"]))
    return session.exec(select(SubjectRow.id).where(SubjectRow.email == email)).one()


def find_subject(session: Session, email: str) -> SubjectRow | None:
    """The subject with this normalized email, if any."""
    return session.exec(select(SubjectRow).where(SubjectRow.email == email)).first()


def find_link(session: Session, key: LinkKey) -> LinkRow | None:
    """The link row of a record, active or ended."""
    return session.exec(
        select(LinkRow).where(
            LinkRow.system == key.system,
            LinkRow.object_type == key.object_type,
            LinkRow.record_id == key.record_id,
        )
    ).first()


def add_link(
    session: Session, key: LinkKey, subject_id: uuid.UUID, email: str | None, now: datetime
) -> LinkRow:
    """A new active link of record `key` to `subject_id`, flushed (its id assigned)."""
    link = LinkRow(
        subject_id=subject_id,
        system=key.system,
        object_type=key.object_type,
        record_id=key.record_id,
        email=email,
        created_at=now,
    )
    session.add(link)
    session.flush()
    return link


def resolve(
    session: Session, key: LinkKey, keys: MatchKeys, now: datetime
) -> tuple[ResolvedLink | None, Found | None]:
    """Link a record to its subject: by record id, else by normalized email (creating both).

    A linked record whose email changed is re-resolved: its subject is renamed when the record
    is its only one, the record moves to a new subject when the new email is nobody's, and it
    stays where it is, with an `identity_ambiguous` conflict, when the email is another
    subject's. The link is None for a record that is not linked yet and has no match key.
    """
    link = find_link(session, key)
    if link is None:
        if keys.email is None:
            return None, None
        subject_id = subject_for_email(session, keys.email, now)
        link = add_link(session, key, subject_id, keys.email, now)
        if keys.phone is not None:
            _remember_phone(session, subject_id, keys.phone)
        return ResolvedLink(_id(link), subject_id, relinked=False), None
    relinked, found = False, None
    if not link.active:
        link.active, link.ended_at = True, None
    if keys.email is not None and keys.email != link.email:
        relinked, conflict = _follow_email_change(session, link, key, keys.email, now)
        found = (link.subject_id, conflict, _id(link)) if conflict is not None else None
    if keys.phone is not None:
        _remember_phone(session, link.subject_id, keys.phone)
    session.add(link)
    session.flush()
    return ResolvedLink(_id(link), link.subject_id, relinked), found


def resolve_many(
    session: Session, records: Mapping[LinkKey, MatchKeys], now: datetime
) -> Identified:
    """`resolve` for a page of records, as if one after the other, with a few statements.

    Known records and new ones are looked up and created in bulk; a record whose link ended or
    whose email changed goes through `resolve` itself, after every record before it. A record
    whose email was refused is not linked by it (a linked one keeps its link) and gets an
    `identity_ambiguous` conflict saying why; the rest of the page goes on.
    """
    known = _known_links(session, list(records))
    resolved: dict[LinkKey, ResolvedLink | None] = {}
    found: list[Found] = []
    pending = _Pending()
    for key, keys in records.items():
        link = known.get(key)
        if keys.refused is not None:
            subject_id, link_id = (link.subject_id, link.id) if link else (None, None)
            found.append((subject_id, refused_email(key, keys.refused), link_id))
        if link is None and keys.email is None:
            resolved[key] = None
            continue
        if link is None or (link.active and keys.email in (None, link.email)):
            pending.add(key, keys, link)
            continue
        resolved.update(pending.flush(session, now))
        resolved[key], raised = resolve(session, key, keys, now)
        if raised is not None:
            found.append(raised)
    resolved.update(pending.flush(session, now))
    return Identified(resolved, _record(session, found, now))


def _record(session: Session, found: Sequence[Found], now: datetime) -> tuple[Conflict, ...]:
    """Record the conflicts found, except those still open from an earlier read."""
    new = [f for f in found if not conflicts.is_open(session, f[1])]
    conflicts.record_many(session, new, now)
    return tuple(conflict for _, conflict, _ in new)


class _Pending:
    """Records resolved in bulk since the last record that needed `resolve` itself."""

    def __init__(self) -> None:
        self.known: dict[LinkKey, ResolvedLink] = {}
        self.new: dict[LinkKey, str] = {}  # new record -> its email
        self.phones: list[tuple[LinkKey, str]] = []

    def add(self, key: LinkKey, keys: MatchKeys, link: Any) -> None:
        if link is None:
            self.new[key] = str(keys.email)
        else:
            self.known[key] = ResolvedLink(link.id, link.subject_id, relinked=False)
        if keys.phone is not None:
            self.phones.append((key, keys.phone))

    def flush(self, session: Session, now: datetime) -> dict[LinkKey, ResolvedLink]:
        resolved = {**self.known, **_create_links(session, self.new, now)}
        first_phone: dict[uuid.UUID, str] = {}
        for key, phone in self.phones:
            first_phone.setdefault(resolved[key].subject_id, phone)
        if first_phone:
            session.execute(
                update(SUBJECTS).where(
                    SUBJECTS.c.id == bindparam("_id"), SUBJECTS.c.phone.is_(None)
                ),
                [{"_id": subject_id, "phone": phone} for subject_id, phone in first_phone.items()],
            )
            session.expire_all()  # subjects read by `resolve` see the phones set here
        self.known, self.new, self.phones = {}, {}, []
        return resolved


#: What resolving needs of a known link (not its timestamps, which would be parsed per row).
_KNOWN_COLUMNS = tuple(
    LINKS.c[name]
    for name in ("id", "subject_id", "system", "object_type", "record_id", "email", "active")
)


def _known_links(session: Session, keys: Sequence[LinkKey]) -> dict[LinkKey, Any]:
    by_object: dict[tuple[str, str], list[str]] = {}
    for key in keys:
        by_object.setdefault((key.system, key.object_type), []).append(key.record_id)
    found: dict[LinkKey, Any] = {}
    for (system, object_type), record_ids in by_object.items():
        for part in chunks(record_ids):
            rows = session.execute(
                select(*_KNOWN_COLUMNS).where(
                    LINKS.c.system == system,
                    LINKS.c.object_type == object_type,
                    LINKS.c.record_id.in_(part),
                )
            )
            for row in rows:
                found[LinkKey(row.system, row.object_type, row.record_id)] = row
    return found


def _create_links(
    session: Session, new: Mapping[LinkKey, str], now: datetime
) -> dict[LinkKey, ResolvedLink]:
    """Link new records to the subjects of their emails, creating the subjects that are missing.

    Rows are inserted in sorted order, so replicas creating the same subjects queue up on them
    instead of deadlocking.
    """
    if not new:
        return {}
    emails = sorted(set(new.values()))
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    bulk.executemany(
        session,
        "new subjects",
        lambda: insert(SUBJECTS).on_conflict_do_nothing(index_elements=["email"]),
        [{"id": uuid7(), "email": email, "phone": None, "created_at": now} for email in emails],
    )
    subjects: dict[str, uuid.UUID] = {}
    for part in chunks(emails):
        query = select(SUBJECTS.c.email, SUBJECTS.c.id).where(SUBJECTS.c.email.in_(part))
        subjects.update((row.email, row.id) for row in session.execute(query))
    keys = sorted(new, key=lambda k: (k.system, k.object_type, k.record_id))
    rows: list[dict[str, Any]] = [
        {
            "subject_id": subjects[new[key]],
            "system": key.system,
            "object_type": key.object_type,
            "record_id": key.record_id,
            "email": new[key],
            "active": True,
            "created_at": now,
        }
        for key in keys
    ]
    statement = insert(LINKS).returning(LINKS.c.id, sort_by_parameter_order=True)
    ids = session.execute(statement, rows).scalars()
    return {
        key: ResolvedLink(link_id, row["subject_id"], relinked=False)
        for key, link_id, row in zip(keys, ids, rows, strict=True)
    }


def _follow_email_change(
    session: Session, link: LinkRow, key: LinkKey, email: str, now: datetime
) -> tuple[bool, Conflict | None]:
    """Follow a record's new email: (whether it moved to a new subject, the conflict it raised).

    The link remembers the email either way, so the next read of an unchanged record asks
    nothing again.
    """
    previous, link.email = link.email, email
    holder = find_subject(session, email)
    if holder is not None and holder.id != link.subject_id:
        # Another person's address: the same person, a typo or a reused record? Only a human
        # can tell. Until then the record stays, with its denials, where it was (I1, I6).
        others = [_key(row) for row in _active_links(session, holder.id)]
        conflict = email_joins_other(
            key, previous=previous, email=email, other_subject=str(holder.id), other_records=others
        )
        return False, conflict
    if holder is not None:
        return False, None  # back to its own subject's email
    subject = session.get(SubjectRow, link.subject_id)
    if subject is not None and _only_link(session, link):
        subject.email = email  # the same person changed address: keep their history
        session.add(subject)
        return False, None
    target = subject_for_email(session, email, now)
    # A record that leaves for a new subject is seen for the first time there (I6): its shadows
    # and pending writes belonged to the old subject's truth.
    link_id = _id(link)
    session.execute(delete(ShadowRow).where(ShadowRow.link_id == link_id))  # type: ignore[arg-type]
    session.execute(delete(OutboxRow).where(OutboxRow.link_id == link_id))  # type: ignore[arg-type]
    link.subject_id = target
    return True, None


def _active_links(session: Session, subject_id: uuid.UUID) -> list[LinkRow]:
    query = select(LinkRow).where(LinkRow.subject_id == subject_id, LinkRow.active)
    return list(session.exec(query.order_by(col(LinkRow.id))))


def _key(link: LinkRow) -> str:
    return str(LinkKey(link.system, link.object_type, link.record_id))


def _only_link(session: Session, link: LinkRow) -> bool:
    other = session.exec(
        select(LinkRow.id).where(
            LinkRow.subject_id == link.subject_id, LinkRow.id != link.id, LinkRow.active
        )
    ).first()
    return other is None


def _remember_phone(session: Session, subject_id: uuid.UUID, phone: str) -> None:
    subject = session.get(SubjectRow, subject_id)
    if subject is not None and subject.phone is None:
        subject.phone = phone
        session.add(subject)


def end_link(session: Session, key: LinkKey, now: datetime) -> bool:
    """Mark a deleted record's link ended and drop its pending writes; False if unknown."""
    link = find_link(session, key)
    if link is None or not link.active:
        return False
    link.active, link.ended_at = False, now
    session.add(link)
    session.execute(
        delete(OutboxRow).where(
            col(OutboxRow.link_id) == _id(link), col(OutboxRow.state) == OutboxState.PENDING
        )
    )
    return True


def _id(link: LinkRow) -> int:
    if link.id is None:
        raise RuntimeError(f"link {link.system}/{link.object_type}/{link.record_id} has no id")
    return link.id
