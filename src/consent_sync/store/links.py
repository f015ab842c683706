"""Identity resolution: which subject a CRM record belongs to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, delete, select

from consent_sync.identity import MatchKeys
from consent_sync.model import LinkKey
from consent_sync.store.tables import LinkRow, OutboxRow, ShadowRow, SubjectRow


@dataclass(frozen=True, slots=True)
class ResolvedLink:
    """A record's link row and the subject it belongs to."""

    link_id: int
    subject_id: uuid.UUID
    relinked: bool  # the record moved to another subject (its shadows started over)


def subject_for_email(session: Session, email: str, now: datetime) -> uuid.UUID:
    """The subject with this normalized email, created if there is none (safe under races)."""
    values: dict[str, Any] = {"id": uuid.uuid4(), "email": email, "created_at": now}
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


def resolve(session: Session, key: LinkKey, keys: MatchKeys, now: datetime) -> ResolvedLink | None:
    """Link a record to its subject: by record id, else by normalized email (creating both).

    A linked record whose email changed is re-resolved: to the subject holding the new email, or
    by renaming its subject when that subject has no other record. Returns None for a record
    that is not linked yet and has no match key.
    """
    link = find_link(session, key)
    if link is None:
        if keys.email is None:
            return None
        subject_id = subject_for_email(session, keys.email, now)
        link = LinkRow(
            subject_id=subject_id,
            system=key.system,
            object_type=key.object_type,
            record_id=key.record_id,
            email=keys.email,
            created_at=now,
        )
        session.add(link)
        session.flush()
        if keys.phone is not None:
            _remember_phone(session, subject_id, keys.phone)
        return ResolvedLink(_id(link), subject_id, relinked=False)
    relinked = False
    if not link.active:
        link.active, link.ended_at = True, None
    if keys.email is not None and keys.email != link.email:
        relinked = _follow_email_change(session, link, keys.email, now)
    if keys.phone is not None:
        _remember_phone(session, link.subject_id, keys.phone)
    session.add(link)
    session.flush()
    return ResolvedLink(_id(link), link.subject_id, relinked)


def _follow_email_change(session: Session, link: LinkRow, email: str, now: datetime) -> bool:
    """Point the link at the subject of its new email; True when it moved to another subject."""
    link.email = email
    subject = session.get(SubjectRow, link.subject_id)
    holder = find_subject(session, email)
    if holder is None and subject is not None and _only_link(session, link):
        subject.email = email  # the same person changed address: keep their history
        session.add(subject)
        return False
    target = holder.id if holder is not None else subject_for_email(session, email, now)
    if target == link.subject_id:
        return False
    # A record that joins another subject is seen for the first time there (I6): its shadows
    # and pending writes belonged to the old subject's truth.
    link_id = _id(link)
    session.execute(delete(ShadowRow).where(ShadowRow.link_id == link_id))  # type: ignore[arg-type]
    session.execute(delete(OutboxRow).where(OutboxRow.link_id == link_id))  # type: ignore[arg-type]
    link.subject_id = target
    return True


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
        delete(OutboxRow).where(OutboxRow.link_id == _id(link), OutboxRow.state == "pending")  # type: ignore[arg-type]
    )
    return True


def _id(link: LinkRow) -> int:
    if link.id is None:
        raise RuntimeError(f"link {link.system}/{link.object_type}/{link.record_id} has no id")
    return link.id
