"""Subjects get time-ordered ids, so a backfill's new subjects land at the right edge of every
index keyed by them instead of all over it (src/consent_sync/store/ids.py)."""

from __future__ import annotations

import time

from sqlmodel import Session, select

from consent_sync.domain.model import LinkKey, Observation, Status
from consent_sync.store import Store
from consent_sync.store.ids import uuid7
from consent_sync.store.tables import SubjectRow
from support.store_builders import ingest, seen


def _page(prefix: str, count: int) -> tuple[list[Observation], dict[LinkKey, str | None]]:
    links = [LinkKey("salesforce", "Contact", f"{prefix}-{n}") for n in range(count)]
    emails: dict[LinkKey, str | None] = {
        link: f"{prefix}.{n}@example.org" for n, link in enumerate(links)
    }
    return [seen(link, Status.NOT_OPTED_OUT, 0) for link in links], emails


def test_subjects_of_a_later_page_sort_after_an_earlier_pages(store: Store) -> None:
    """Every new subject's id is a version 7 UUID, and a page's subjects sort after those of
    every page ingested before it (to the millisecond)."""
    first, first_emails = _page("a", 50)
    ingest(store, first, 1, emails=first_emails)
    time.sleep(0.005)
    second, second_emails = _page("b", 50)
    ingest(store, second, 2, emails=second_emails)
    with Session(store.engine) as session:
        rows = session.exec(select(SubjectRow)).all()
    ids = {row.email: row.id for row in rows}
    assert len(ids) == 100 and all(i.version == 7 for i in ids.values())
    earlier = [ids[e] for e in first_emails.values() if e]
    later = [ids[e] for e in second_emails.values() if e]
    assert max(earlier) < min(later)


def test_uuid7_holds_the_time_and_random_bits() -> None:
    """The first 48 bits are the Unix time in milliseconds; the rest differ call to call."""
    before = time.time_ns() // 1_000_000
    made = [uuid7() for _ in range(1000)]
    after = time.time_ns() // 1_000_000
    assert all(before <= u.int >> 80 <= after for u in made)
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in made)
    assert len(set(made)) == 1000
