"""Least permissive within a system (docs/design.md, "Least permissive within a system"): one
person's Contact and Lead in one Salesforce org speak for one purpose, and while either holds a
denial of its own, the org's answer is no, as Salesforce's Consent API would give it.

On a real SQLite file and on PostgreSQL, through `store.decisions.ingest` as the engine calls it
(one call per page of one object).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.model import (
    Canonical,
    ConflictKind,
    LinkKey,
    Observation,
    Policy,
    Purpose,
    Shadow,
    Side,
    Status,
)
from consent_sync.domain.reconcile import reconcile
from consent_sync.store import IngestReport, Store
from support.store_builders import EMAIL, HS, at, seen

G, D, N, U = Status.GRANTED, Status.DENIED, Status.NOT_OPTED_OUT, Status.UNKNOWN
CONTACT = LinkKey("salesforce", "Contact", "003A")
LEAD = LinkKey("salesforce", "Lead", "00QA")
SMS = "sms_marketing"  # a picklist: "Opted In" is a grant any system may give
CALLS = "phone_calls"  # the same, under last_writer_wins
OPT_OUT = "email_marketing"  # an opt-out box: unticked is not_opted_out
PURPOSES = {
    SMS: Purpose(SMS, channel="sms"),
    CALLS: Purpose(CALLS, channel="phone", policy=Policy.LAST_WRITER_WINS),
    OPT_OUT: Purpose(OPT_OUT, channel="email"),
}


def saw(link: LinkKey, status: Status, minutes: float, purpose: str = SMS) -> Observation:
    return seen(link, status, minutes, purpose)


def ingest(store: Store, observations: Sequence[Observation], minutes: float) -> IngestReport:
    keys = {o.link: MatchKeys(email=EMAIL) for o in observations if o.link}
    return store.decisions.ingest(observations, keys, PURPOSES, at(minutes))


def pending(store: Store) -> dict[tuple[str, str], str]:
    """What is queued to each record: (record, purpose) -> status."""
    return {
        (str(item.link), item.purpose): item.status.value
        for system in ("salesforce", "hubspot")
        for item in store.outbox.pending(system, 50, at(10_000))
    }


def deliver(store: Store, minutes: float) -> None:
    """Every queued write lands in its CRM."""
    for system in ("salesforce", "hubspot"):
        for item in store.outbox.due(system, 50, at(minutes)):
            store.outbox.mark_written(item, at(minutes))


def status(store: Store, purpose: str = SMS) -> str:
    return {s.purpose: s.status for s in store.views.subject(EMAIL).states}[purpose]


def assert_quiet(store: Store, observations: Sequence[Observation], minutes: float) -> None:
    """I3: reading the records again as they now stand decides, records and queues nothing."""
    before = len(list(store.views.conflicts()))
    report = ingest(store, observations, minutes)
    assert (report.decisions, report.conflicts, report.queued) == (0, 0, 0), report
    assert len(list(store.views.conflicts())) == before
    assert pending(store) == {}


def iso(minutes: float) -> str:
    return at(minutes).isoformat()


def _contact_denies_lead_never_asked(store: Store) -> None:
    """The Contact is "Opted Out"; the Lead, never asked, is given the denial and holds it."""
    ingest(store, [saw(CONTACT, D, 0)], 1)
    ingest(store, [saw(LEAD, U, 0)], 2)
    assert pending(store) == {(str(LEAD), SMS): "denied"}
    deliver(store, 3)
    assert_quiet(store, [saw(CONTACT, D, 0), saw(LEAD, D, 3)], 4)


def test_a_grant_on_the_lead_does_not_lift_the_contacts_own_denial(store: Store) -> None:
    """The Lead turns "Opted In" (a change, newer than the denial, allowed by the policy): the
    org still says no through the Contact, so the grant is blocked for review, the conflict says
    which record said what, and the denial goes back to the Lead."""
    _contact_denies_lead_never_asked(store)
    report = ingest(store, [saw(LEAD, G, 10)], 11)
    assert (report.decisions, dict(report.conflict_kinds)) == (0, {"grant_blocked": 1})
    assert status(store) == "denied"
    (conflict,) = store.views.conflicts(open_only=True, kind=ConflictKind.GRANT_BLOCKED)
    assert (conflict.rule, conflict.severity, conflict.link) == (
        "revocation_wins:denied_in_system",
        "needs_review",
        str(LEAD),
    )
    assert "another record of this person (Contact 003A)" in conflict.message
    assert "the denial is pushed back" in conflict.message
    assert conflict.detail["records"] == [
        {
            "record": str(LEAD),
            "object_type": "Lead",
            "record_id": "00QA",
            "status": "granted",
            "as_of": iso(10),
        },
        {
            "record": str(CONTACT),
            "object_type": "Contact",
            "record_id": "003A",
            "status": "denied",
            "as_of": iso(4),  # when the Contact was last read
        },
    ]
    assert {(s["link"], s["status"]) for s in conflict.sides} >= {
        (str(LEAD), "granted"),
        (str(CONTACT), "denied"),
    }
    assert pending(store) == {(str(LEAD), SMS): "denied"}
    assert [row.status for row in store.views.subject(EMAIL).timeline] == ["denied"]
    deliver(store, 12)
    assert_quiet(store, [saw(LEAD, D, 12), saw(CONTACT, D, 0)], 13)


def test_the_grant_is_blocked_in_a_page_that_also_reads_the_denying_record(store: Store) -> None:
    """The Contact's denial read again in the same page, after the Lead's grant: blocked too."""
    _contact_denies_lead_never_asked(store)
    report = ingest(store, [saw(LEAD, G, 10), saw(CONTACT, D, 0)], 11)
    assert (report.decisions, dict(report.conflict_kinds)) == (0, {"grant_blocked": 1})
    assert status(store) == "denied"
    assert pending(store) == {(str(LEAD), SMS): "denied"}


def test_the_record_that_denied_may_lift_its_own_denial(store: Store) -> None:
    """Once the Contact itself opts in, nothing in the org denies but the copy consent-sync
    wrote to the Lead: the grant applies and reaches the Lead."""
    _contact_denies_lead_never_asked(store)
    ingest(store, [saw(LEAD, G, 10)], 11)  # blocked; the denial is written back to the Lead
    deliver(store, 12)
    report = ingest(store, [saw(CONTACT, G, 20), saw(LEAD, D, 12)], 21)
    assert (report.decisions, report.conflicts) == (1, 0), report
    assert status(store) == "granted"
    assert pending(store) == {(str(LEAD), SMS): "granted"}


def test_a_denial_consent_sync_wrote_is_no_records_own_answer(store: Store) -> None:
    """HubSpot's unsubscribe reached both Salesforce records; the Lead's later opt-in is the org's
    only own answer, so it applies (HubSpot's denial is another system's, settled by the policy)."""
    ingest(store, [saw(CONTACT, U, 0)], 1)
    ingest(store, [saw(LEAD, U, 0)], 2)
    ingest(store, [saw(HS, D, 3)], 4)
    assert pending(store) == {(str(CONTACT), SMS): "denied", (str(LEAD), SMS): "denied"}
    deliver(store, 5)
    assert_quiet(store, [saw(CONTACT, D, 5), saw(LEAD, D, 5)], 6)
    report = ingest(store, [saw(LEAD, G, 10)], 11)
    assert (report.decisions, report.conflicts) == (1, 0), report
    assert status(store) == "granted"
    assert pending(store) == {(str(CONTACT), SMS): "granted", (str(HS), SMS): "granted"}


#: Pages in the order the engine reads them (each list is one `ingest`), and what they leave:
#: the ledger's statuses and the conflicts' rules.
ORDERS = {
    "one page": ([[(LEAD, G, 10), (CONTACT, D, 5)]], ["denied"], "first_sight_denial_wins"),
    "grant page first": ([[(LEAD, G, 10)], [(CONTACT, D, 5)]], ["granted", "denied"], "stale"),
    "denial page first": ([[(CONTACT, D, 5)], [(LEAD, G, 10)]], ["denied"], "denied_in_system"),
}
STALE = {SMS: "revocation_wins", CALLS: "last_writer_wins:least_permissive"}


@pytest.mark.parametrize("purpose", [SMS, CALLS], ids=["revocation_wins", "last_writer_wins"])
@pytest.mark.parametrize("order", list(ORDERS))
def test_a_grant_and_an_older_denial_end_denied_in_any_order(
    store: Store, purpose: str, order: str
) -> None:
    """Both records were never asked; then the Lead opts in and the Contact opts out (earlier).
    Whatever is read first, and even where the later decision usually wins, the org's answer is
    no: the denial stands, reaches the Lead, and nothing flaps afterwards."""
    ingest(store, [saw(CONTACT, U, 0, purpose), saw(LEAD, U, 0, purpose)], 1)
    pages, ledger, rule = ORDERS[order]
    for minutes, page in enumerate(pages, start=11):
        ingest(store, [saw(link, value, when, purpose) for link, value, when in page], minutes)
    assert status(store, purpose) == "denied"
    assert [row.status for row in store.views.subject(EMAIL).timeline] == ledger
    (conflict,) = store.views.conflicts()
    assert conflict.rule.endswith(STALE[purpose] if rule == "stale" else rule), conflict.rule
    assert pending(store) == {(str(LEAD), purpose): "denied"}
    deliver(store, 20)
    assert_quiet(store, [saw(LEAD, D, 20, purpose), saw(CONTACT, D, 5, purpose)], 21)


@pytest.mark.parametrize("order", ["one page", "contact page first", "lead page first"])
def test_contact_not_opted_out_and_lead_opted_out_at_first_sight(store: Store, order: str) -> None:
    """One pull finds a Contact with "Email Opt Out" unticked and a Lead with it ticked: the
    denial is adopted, one info conflict names both records, the Contact's box is ticked, and
    the next pull is quiet."""
    contact, lead = saw(CONTACT, N, 0, OPT_OUT), saw(LEAD, D, 0, OPT_OUT)
    pages = {
        "one page": [[contact, lead]],
        "contact page first": [[contact], [lead]],
        "lead page first": [[lead], [contact]],
    }[order]
    for minutes, page in enumerate(pages, start=1):
        ingest(store, page, minutes)
    assert status(store, OPT_OUT) == "denied"
    (conflict,) = store.views.conflicts()
    assert (conflict.kind, conflict.severity) == ("initial_disagreement", "info")
    records = {r["record"]: r["status"] for r in conflict.detail["records"]}
    assert records == {str(CONTACT): "not_opted_out", str(LEAD): "denied"}
    assert pending(store) == {(str(CONTACT), OPT_OUT): "denied"}
    deliver(store, 5)
    assert_quiet(store, [saw(CONTACT, D, 5, OPT_OUT), saw(LEAD, D, 0, OPT_OUT)], 6)


def test_an_unticked_box_beside_a_decided_denial_stays_denied_quietly(store: Store) -> None:
    """The Contact opted out (a change); a Lead appears with the box unticked: nothing to
    review, no decision, the Lead's box is ticked, and rereading both is quiet."""
    ingest(store, [saw(CONTACT, N, 0, OPT_OUT)], 1)
    ingest(store, [saw(CONTACT, D, 5, OPT_OUT)], 6)
    report = ingest(store, [saw(LEAD, N, 7, OPT_OUT)], 8)
    assert (report.decisions, report.conflicts) == (0, 0), report
    assert status(store, OPT_OUT) == "denied"
    assert pending(store) == {(str(LEAD), OPT_OUT): "denied"}
    deliver(store, 9)
    assert_quiet(store, [saw(CONTACT, D, 5, OPT_OUT), saw(LEAD, D, 9, OPT_OUT)], 10)


def test_a_manual_grant_resolves_the_conflict_for_every_record(store: Store) -> None:
    """On-call checks with the person and resolves the blocked grant as granted: a manual
    decision speaks for no one record, so it applies and reaches the Contact too."""
    _contact_denies_lead_never_asked(store)
    ingest(store, [saw(LEAD, G, 10)], 11)
    (conflict,) = store.views.conflicts(open_only=True)
    assert conflict.id is not None
    applied = store.decisions.resolve_conflict(
        conflict.id, G, by="ops", note="confirmed by phone", purposes=PURPOSES, now=at(12)
    )
    assert len(applied.ledger_seqs) == 1
    assert status(store) == "granted"
    # The Lead already says "Opted In": its pending denial is dropped; the Contact is told.
    assert pending(store) == {(str(CONTACT), SMS): "granted"}


def test_a_first_sight_grant_is_not_adopted_while_another_record_of_its_system_denies() -> None:
    """The rule alone: the store knows nothing for the purpose yet, but a record of the same
    system holds a denial (as after an identity merge): the grant is not the org's answer."""
    when = at(3)
    held = (Side("salesforce", D, when, CONTACT), Side("salesforce", G, at(5), LEAD))
    r = reconcile(PURPOSES[SMS], Canonical(), [(saw(LEAD, G, 5), Shadow())], held)
    assert not r.canonical.known and r.decisions == ()
    (conflict,) = r.conflicts
    assert (conflict.kind, conflict.rule) == (
        ConflictKind.GRANT_BLOCKED,
        "first_sight:denied_in_system",
    )
    assert "it is not adopted" in conflict.message
    other = reconcile(
        PURPOSES[SMS], Canonical(), [(saw(LEAD, G, 5), Shadow())], (Side("hubspot", D, when, HS),)
    )
    assert other.canonical.status is G, "another system's denial is the policy's to settle"
