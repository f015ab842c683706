"""Honest identity: a record never moves to another existing person on its own, and an email
with characters nobody can see links nobody; both become `identity_ambiguous` conflicts."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from consent_sync.domain.identity import EMAIL_JOINS_OTHER, EMAIL_REFUSED, MatchKeys, read_email
from consent_sync.domain.model import LinkKey, Status
from consent_sync.store import Store
from consent_sync.store.tables import ConflictRow
from support.store_builders import EMAIL, HS, PURPOSES, SF, at, ingest, seen

GRACE = "grace@example.com"
LEAD = LinkKey("salesforce", "Lead", "00QB")


def _subjects(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM subjects")).scalar_one())


def _identity_conflicts(store: Store) -> list[ConflictRow]:
    return list(store.views.conflicts(open_only=True, kind=None))


def _ada_denied_grace_granted(store: Store) -> None:
    """Ada: a Salesforce contact and a HubSpot contact, denied; Grace: a Lead, granted."""
    ingest(store, [seen(SF, Status.DENIED, 0), seen(HS, Status.DENIED, 0)], 1)
    ingest(store, [seen(LEAD, Status.GRANTED, 0)], 2, emails={LEAD: GRACE})


def test_email_change_to_another_persons_email_is_ambiguous_not_a_move(store: Store) -> None:
    """The record stays with its subject and keeps its denial; no ledger row; a needs-review
    conflict names the record, both emails and the other subject's records."""
    _ada_denied_grace_granted(store)
    rows_before = len(list(store.views.ledger()))
    report = ingest(store, [seen(SF, Status.DENIED, 0)], 3, emails={SF: GRACE})
    assert (report.relinked, report.decisions) == (0, 0)
    assert dict(report.conflict_kinds) == {"identity_ambiguous": 1}
    assert len(list(store.views.ledger())) == rows_before
    ada, grace = store.views.subject(EMAIL), store.views.subject(GRACE)
    assert {link.record_id for link in ada.links if link.active} == {"003A", "501"}
    assert [(s.purpose, s.status) for s in ada.states] == [("email_marketing", "denied")]
    assert [link.record_id for link in grace.links] == ["00QB"]
    assert [(s.purpose, s.status) for s in grace.states] == [("email_marketing", "granted")]
    (conflict,) = _identity_conflicts(store)
    assert (conflict.kind, conflict.severity, conflict.rule) == (
        "identity_ambiguous",
        "needs_review",
        EMAIL_JOINS_OTHER,
    )
    assert (conflict.subject_id, conflict.link, conflict.purpose) == (ada.subject.id, str(SF), None)
    assert conflict.detail == {
        "email": GRACE,
        "previous_email": EMAIL,
        "other_subject": str(grace.subject.id),
        "other_records": [str(LEAD)],
    }
    assert GRACE not in conflict.message and "g***@example.com" in conflict.message


def test_an_ambiguous_record_is_asked_about_once(store: Store) -> None:
    """Reading the same record again raises nothing new, and its denial still speaks for Ada."""
    _ada_denied_grace_granted(store)
    ingest(store, [seen(SF, Status.DENIED, 0)], 3, emails={SF: GRACE})
    again = ingest(store, [seen(SF, Status.DENIED, 0)], 4, emails={SF: GRACE})
    assert (again.conflicts, again.relinked, again.decisions) == (0, 0, 0)
    assert len(_identity_conflicts(store)) == 1
    assert [s.status for s in store.views.subject(EMAIL).states] == ["denied"]


def test_sole_record_taking_another_persons_email_keeps_its_subject(store: Store) -> None:
    """A person's only record taking someone else's address is no rename: both stay apart."""
    ingest(store, [seen(SF, Status.DENIED, 0)], 1)
    ingest(store, [seen(LEAD, Status.GRANTED, 0)], 2, emails={LEAD: GRACE})
    report = ingest(store, [seen(SF, Status.DENIED, 0)], 3, emails={SF: GRACE})
    assert dict(report.conflict_kinds) == {"identity_ambiguous": 1}
    assert [link.record_id for link in store.views.subject(EMAIL).links] == ["003A"]
    assert [s.status for s in store.views.subject(GRACE).states] == ["granted"]


def test_email_change_back_to_its_own_subject_is_quiet(store: Store) -> None:
    """A record returning to its own subject's address is no conflict."""
    _ada_denied_grace_granted(store)
    ingest(store, [seen(SF, Status.DENIED, 0)], 3, emails={SF: GRACE})
    back = ingest(store, [seen(SF, Status.DENIED, 0)], 4, emails={SF: EMAIL})
    assert (back.conflicts, back.relinked) == (0, 0)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("ada\u200b@example.com", "U+200B ZERO WIDTH SPACE"),
        ("ada\u200d@example.com", "U+200D ZERO WIDTH JOINER"),
        ("\ufeffada@example.com", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("moc.elpmaxe@ada\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ],
)
def test_refused_email_links_nobody_and_says_why(store: Store, raw: str, named: str) -> None:
    """A new record whose email has an invisible character is not linked (no second Ada); a
    conflict names the character; the rest of the page is linked as usual."""
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    email, refused = read_email(raw)
    assert email is None and refused is not None
    keys = {LEAD: MatchKeys(refused=refused), HS: MatchKeys(email=EMAIL)}
    report = store.decisions.ingest(
        [seen(LEAD, Status.DENIED, 0), seen(HS, Status.DENIED, 0)], keys, PURPOSES, at(2)
    )
    assert (report.unmatched, report.subjects, report.decisions) == (1, 1, 1)
    assert dict(report.conflict_kinds) == {"identity_ambiguous": 1}
    assert {link.record_id for link in store.views.subject(EMAIL).links} == {"003A", "501"}
    (conflict,) = _identity_conflicts(store)
    assert (conflict.rule, conflict.link, conflict.subject_id) == (EMAIL_REFUSED, str(LEAD), None)
    assert named in conflict.message and named in conflict.detail["reason"]
    assert _subjects(store) == 1  # no second Ada
    repeat = store.decisions.ingest([seen(LEAD, Status.DENIED, 0)], keys, PURPOSES, at(3))
    assert repeat.conflicts == 0  # reported once while open


def test_linked_record_whose_email_is_refused_keeps_its_link(store: Store) -> None:
    """A linked record that now holds a refused email stays linked by its id, and says why."""
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    _, refused = read_email("ada\u2060@example.com")
    keys = {SF: MatchKeys(refused=refused)}
    report = store.decisions.ingest([seen(SF, Status.DENIED, 5)], keys, PURPOSES, at(6))
    assert (report.unmatched, report.decisions) == (0, 1)
    (conflict,) = _identity_conflicts(store)
    ada = store.views.subject(EMAIL)
    assert (conflict.subject_id, conflict.link_id) == (ada.subject.id, ada.links[0].id)
    assert "U+2060 WORD JOINER" in conflict.message
