"""Identity resolution: records find their subject by record id, else by normalized email."""

from __future__ import annotations

import pytest

from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.model import LinkKey, Status
from consent_sync.store import Store, SubjectNotFoundError
from support.store_builders import EMAIL, HS, PURPOSES, SF, at, ingest, seen

LEAD = LinkKey("salesforce", "Lead", "00QB")


def test_same_email_in_two_systems_is_one_subject(store: Store) -> None:
    """Records in different systems with the same email belong to one subject."""
    report = ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    assert report.subjects == 1
    view = store.views.subject(EMAIL)
    assert {(link.system, link.record_id) for link in view.links} == {
        ("salesforce", "003A"),
        ("hubspot", "501"),
    }


def test_linked_record_is_found_by_id_without_email(store: Store) -> None:
    """Once linked, a record is resolved by its id even when it comes without an email."""
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    report = ingest(store, [seen(SF, Status.DENIED, 5)], 6, emails={SF: None})
    assert (report.unmatched, report.decisions) == (0, 1)


def test_lookup_by_email_is_normalized(store: Store) -> None:
    """`subject` finds a person whatever the case and surrounding spaces of the query."""
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    assert store.views.subject("  ADA@Example.COM ").subject.email == EMAIL
    with pytest.raises(SubjectNotFoundError):
        store.views.subject("nobody@example.com")


def test_email_change_of_a_sole_record_renames_its_subject(store: Store) -> None:
    """A person's only record changing email keeps their subject and history under the new one."""
    ingest(store, [seen(SF, Status.DENIED, 0)], 1)
    before = store.views.subject(EMAIL).subject.id
    report = ingest(store, [seen(SF, Status.DENIED, 0)], 2, emails={SF: "ada@new.example"})
    assert report.relinked == 0
    view = store.views.subject("ada@new.example")
    assert view.subject.id == before
    assert len(view.timeline) == 1
    with pytest.raises(SubjectNotFoundError):
        store.views.subject(EMAIL)


def test_email_change_to_a_new_address_moves_a_shared_record_as_a_first_sight(store: Store) -> None:
    """A record leaving a subject that keeps other records, for an address nobody has, starts
    over at a new subject: its values there are a first sight (I6)."""
    ingest(store, [seen(SF, Status.DENIED, 0), seen(HS, Status.DENIED, 0)], 1)
    report = ingest(store, [seen(SF, Status.DENIED, 0)], 2, emails={SF: "ada@new.example"})
    assert (report.relinked, report.conflicts) == (1, 0)
    assert [link.record_id for link in store.views.subject("ada@new.example").links] == ["003A"]
    assert [s.status for s in store.views.subject("ada@new.example").states] == ["denied"]
    assert [link.record_id for link in store.views.subject(EMAIL).links] == ["501"]


def test_ended_link_drops_pending_writes(store: Store) -> None:
    """A deleted record's link ends and its queued writes go with it."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    assert store.decisions.end_link(HS, at(7))
    assert store.outbox.due("hubspot", 10, at(7)) == []
    (ended,) = (link for link in store.views.subject(EMAIL).links if link.system == "hubspot")
    assert (ended.active, ended.ended_at) == (False, at(7))
    assert not store.decisions.end_link(HS, at(8))
    ingest(store, [seen(SF, Status.GRANTED, 9)], 10)
    assert store.outbox.due("hubspot", 10, at(10)) == []


def test_phone_is_kept_when_the_record_offers_one(store: Store) -> None:
    """A record's normalized phone is stored on its subject when the subject has none."""
    keys = {SF: MatchKeys(email=EMAIL, phone="+14155550100")}
    store.decisions.ingest([seen(SF, Status.GRANTED, 0)], keys, PURPOSES, at(1))
    assert store.views.subject(EMAIL).subject.phone == "+14155550100"
