"""Reclassifying grants an earlier version read from unticked opt-out boxes
(docs/design.md, "What a grant is"; I7).

The store is built the old way: Salesforce opt-out checkboxes ingested as `granted` with the
field named in their evidence, some of those grants pushed to HubSpot as opt-ins, others still
pending or withheld in the outbox; beside them a genuine HubSpot subscription with a legal basis
and a Salesforce "Opted In" picklist, which are explicit grants and must stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from consent_sync.config import load_config
from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.model import Evidence, LinkKey, Observation, Purpose, Status, TimeKind
from consent_sync.store import Store
from consent_sync.store.reclassify import SOURCE, PushedOptIn, Rules
from consent_sync.store.tables import ConsentStateRow, LedgerRow, OutboxRow, SubjectRow

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

ADA_SF = LinkKey("salesforce", "Contact", "003A")
ADA_LEAD = LinkKey("salesforce", "Lead", "00QA")
ADA_HS = LinkKey("hubspot", "contacts", "501")
BOB_SF = LinkKey("salesforce", "Lead", "00QB")
BOB_HS = LinkKey("hubspot", "contacts", "502")
CY_SF = LinkKey("salesforce", "Contact", "003C")
CY_HS = LinkKey("hubspot", "contacts", "503")
DEE_HS = LinkKey("hubspot", "contacts", "504")
DEE_SF = LinkKey("salesforce", "Contact", "003D")
EVE_SF = LinkKey("salesforce", "Contact", "003E")
EMAILS = {
    ADA_SF: "ada@example.com",
    ADA_LEAD: "ada@example.com",
    ADA_HS: "ada@example.com",
    BOB_SF: "bob@example.com",
    BOB_HS: "bob@example.com",
    CY_SF: "cy@example.com",
    CY_HS: "cy@example.com",
    DEE_HS: "dee@example.com",
    DEE_SF: "dee@example.com",
    EVE_SF: "eve@example.com",
}
#: Reclassified: ada's email and calls, bob's and cy's email.
FABRICATED = {
    ("ada@example.com", "email_marketing"),
    ("ada@example.com", "phone_calls"),
    ("bob@example.com", "email_marketing"),
    ("cy@example.com", "email_marketing"),
}
GENUINE = {("dee@example.com", "email_marketing"), ("eve@example.com", "sms_marketing")}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def read(
    link: LinkKey,
    purpose: str,
    status: Status,
    field: str,
    minutes: float,
    legal_basis: str | None = None,
) -> Observation:
    """What the previous version made of `link`'s `field`: evidence naming the field."""
    evidence = Evidence(
        source=link.system,
        source_record=str(link),
        legal_basis=legal_basis,
        captured_at=at(minutes),
        extra={"field": field},
    )
    return Observation(link.system, link, purpose, status, at(minutes), TimeKind.FIELD, evidence)


@dataclass(frozen=True)
class OldStore:
    """The store as the previous version left it."""

    purposes: dict[str, Purpose]
    rules: Rules
    delivered_seq: int  # ada's fabricated email grant, delivered to HubSpot 501


def build_old_store(store: Store) -> OldStore:
    """Ingest the way the previous mappings did (an unticked box read as granted) and push."""
    config = load_config(REPO, resolve_env=False)
    observations = [
        read(ADA_SF, "email_marketing", Status.GRANTED, "HasOptedOutOfEmail", 1),
        read(ADA_SF, "phone_calls", Status.GRANTED, "DoNotCall", 1),
        read(ADA_LEAD, "email_marketing", Status.UNKNOWN, "HasOptedOutOfEmail", 1),
        read(ADA_HS, "email_marketing", Status.UNKNOWN, "marketing_email", 1),
        read(BOB_SF, "email_marketing", Status.GRANTED, "HasOptedOutOfEmail", 2),
        read(BOB_HS, "email_marketing", Status.UNKNOWN, "marketing_email", 2),
        read(CY_SF, "email_marketing", Status.GRANTED, "HasOptedOutOfEmail", 3),
        read(CY_HS, "email_marketing", Status.UNKNOWN, "marketing_email", 3),
        read(DEE_HS, "email_marketing", Status.GRANTED, "marketing_email", 4, "consent"),
        read(DEE_SF, "email_marketing", Status.NOT_OPTED_OUT, "HasOptedOutOfEmail", 4),
        read(EVE_SF, "sms_marketing", Status.GRANTED, "SMS_Consent__c", 5),
    ]
    keys = {o.link: MatchKeys(email=EMAILS[o.link]) for o in observations if o.link}
    report = store.decisions.ingest(
        observations, keys, config.purposes, at(10)
    )  # no targets: as before
    assert report.decisions == 6
    items = {item.link: item for item in store.outbox.due("hubspot", 10, at(11))}
    store.outbox.mark_written(items[ADA_HS], at(12))  # an opt-in nobody gave, pushed to HubSpot
    store.outbox.mark_withheld(items[CY_HS], "no legal basis", at(12))
    (lead,) = (i for i in store.outbox.due("salesforce", 10, at(11)) if i.link == ADA_LEAD)
    store.outbox.mark_written(lead, at(12))  # "granted" on an opt-out box: it was left unticked
    delivered = store.views.subject("ada@example.com").states
    seq = next(s.ledger_seq for s in delivered if s.purpose == "email_marketing")
    assert seq is not None
    return OldStore(config.purposes, Rules.from_mappings(config.mappings), seq)


def states(store: Store) -> dict[tuple[str, str], str]:
    """(email, purpose) -> canonical status."""
    with Session(store.engine) as session:
        rows = session.exec(
            select(SubjectRow.email, ConsentStateRow.purpose, ConsentStateRow.status).join(
                ConsentStateRow, col(ConsentStateRow.subject_id) == col(SubjectRow.id)
            )
        ).all()
    return {(email, purpose): status for email, purpose, status in rows}


def ledger_size(store: Store) -> int:
    with Session(store.engine) as session:
        return session.exec(select(func.count()).select_from(LedgerRow)).one()


def outbox_rows(store: Store) -> list[tuple[str, str, str]]:
    """(system, state, status) of every outbox row."""
    with Session(store.engine) as session:
        rows = session.exec(select(OutboxRow.system, OutboxRow.state, OutboxRow.status)).all()
    return sorted((system, state, status) for system, state, status in rows)


def run(store: Store, old: OldStore, chunk: int = 500) -> tuple[int, list[PushedOptIn]]:
    """Reclassify everything; (how many, the pushed opt-ins listed)."""
    chunks = list(store.decisions.reclassify_grants(old.rules, at(60), chunk=chunk))
    return sum(len(c.reclassified) for c in chunks), [p for c in chunks for p in c.pushed]


@pytest.fixture
def old(store: Store) -> OldStore:
    return build_old_store(store)


def test_rules_name_the_opt_out_boxes_of_the_shipped_mappings() -> None:
    """Under the shipped mappings exactly the opt-out checkboxes (Salesforce's on Contact and
    Lead, Dynamics' on contacts) cannot say granted."""
    rules = Rules.from_mappings(load_config(REPO, resolve_env=False).mappings)
    boxes = {"HasOptedOutOfEmail", "DoNotCall", "HasOptedOutOfFax"}
    assert set(rules.fields) == {
        ("salesforce", obj, name) for obj in ("Contact", "Lead") for name in boxes
    } | {("dynamics", "contacts", name) for name in ("donotbulkemail", "donotphone", "donotfax")}
    assert all(found.checkbox for found in rules.fields.values())
    assert ("salesforce", "Lead", "email_marketing") in rules.no_opt_in
    assert not any(system == "hubspot" for system, _, _ in rules.no_opt_in)


def test_grants_read_from_opt_out_boxes_become_not_opted_out(store: Store, old: OldStore) -> None:
    """Every grant decided by an opt-out box becomes not_opted_out; explicit grants stay."""
    assert store.decisions.count_reclassifiable(old.rules) == len(FABRICATED)
    reclassified, _ = run(store, old)
    assert reclassified == len(FABRICATED)
    after = states(store)
    assert {key for key, status in after.items() if status == "not_opted_out"} == FABRICATED
    assert {key for key, status in after.items() if status == "granted"} == GENUINE


def test_each_reclassification_is_one_chained_ledger_row(store: Store, old: OldStore) -> None:
    """The ledger grows by exactly one verified row per reclassified grant, citing the original."""
    before = ledger_size(store)
    run(store, old)
    assert ledger_size(store) == before + len(FABRICATED)
    assert store.views.verify_ledger().ok
    rows = {row.seq: row for row in store.views.ledger()}
    new = [row for row in rows.values() if row.source == SOURCE]
    assert len(new) == len(FABRICATED)
    for row in new:
        original = rows[int(row.evidence["extra"]["reclassifies"])]
        assert (row.status, row.previous, row.rule) == ("not_opted_out", "granted", "reclassified")
        assert (row.subject_id, row.purpose) == (original.subject_id, original.purpose)
        assert (row.decided_at, row.time_kind) == (original.decided_at, original.time_kind)
        field = original.evidence["extra"]["field"]
        obj = original.evidence["source_record"].split("/")[1]
        assert row.evidence == {
            "source": SOURCE,
            "collection_method": "reclassification",
            "note": f"ledger #{original.seq} read salesforce {obj}.{field} (an opt-out "
            "checkbox left unticked) as a grant; nobody opted in",
            "extra": {"reclassifies": str(original.seq)},
        }


def test_state_points_at_the_new_row_and_keeps_imported(store: Store, old: OldStore) -> None:
    """The canonical state's deciding row is the reclassification; imported and time are kept."""
    with Session(store.engine) as session:
        before = {(r.subject_id, r.purpose): r for r in session.exec(select(ConsentStateRow))}
    run(store, old)
    new_rows = {
        (row.subject_id, row.purpose): row.seq
        for row in store.views.ledger()
        if row.source == SOURCE
    }
    with Session(store.engine) as session:
        for row in session.exec(select(ConsentStateRow)):
            if (row.subject_id, row.purpose) not in new_rows:
                continue
            was = before[(row.subject_id, row.purpose)]
            assert row.ledger_seq == new_rows[(row.subject_id, row.purpose)]
            assert (row.imported, row.decided_at) == (was.imported, was.decided_at)


def test_pending_and_withheld_opt_ins_are_dropped(store: Store, old: OldStore) -> None:
    """Opt-ins of reclassified grants waiting in the outbox (pending, withheld) never go out."""
    assert ("hubspot", "pending", "granted") in outbox_rows(store)  # bob's
    assert ("hubspot", "withheld", "granted") in outbox_rows(store)  # cy's
    run(store, old)
    # Only dee's genuine grant is still on its way, to her Salesforce record.
    assert outbox_rows(store) == [("salesforce", "pending", "granted")]


def test_lists_the_opt_ins_already_pushed(store: Store, old: OldStore) -> None:
    """The HubSpot record an opt-in was pushed to is listed; an unticked box written is not."""
    _, pushed = run(store, old)
    (only,) = pushed
    assert (only.system, only.object_type, only.record_id) == ("hubspot", "contacts", "501")
    assert (only.purpose, only.decision_seq, only.applied_at) == (
        "email_marketing",
        old.delivered_seq,
        at(12),
    )


def test_a_second_run_changes_nothing(store: Store, old: OldStore) -> None:
    """Reclassifying is idempotent: the second run finds and writes nothing."""
    run(store, old)
    size, after = ledger_size(store), states(store)
    assert store.decisions.count_reclassifiable(old.rules) == 0
    assert run(store, old) == (0, [])
    assert (ledger_size(store), states(store)) == (size, after)


@pytest.mark.parametrize("chunk", [1, 500])
def test_dry_run_changes_nothing(store: Store, old: OldStore, chunk: int) -> None:
    """A dry run reports the same reclassifications and listing and keeps none of it."""
    size, before, queued = ledger_size(store), states(store), outbox_rows(store)
    with Store(store.engine, dry_run=True) as dry:
        reclassified, pushed = run(dry, old, chunk=chunk)  # pages past what it keeps granted
    assert reclassified == len(FABRICATED)
    assert [p.record_id for p in pushed] == ["501"]
    assert (ledger_size(store), states(store), outbox_rows(store)) == (size, before, queued)
    assert store.views.verify_ledger().ok


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_small_chunks_reclassify_the_same(store: Store, old: OldStore, chunk: int) -> None:
    """Paging in chunks smaller than the work (a subject split across two) changes nothing."""
    reclassified, pushed = run(store, old, chunk=chunk)
    assert reclassified == len(FABRICATED)
    assert [p.record_id for p in pushed] == ["501"]
    assert {k for k, s in states(store).items() if s == "not_opted_out"} == FABRICATED
    assert store.views.verify_ledger().ok


def test_a_grant_the_person_gave_elsewhere_is_read_afresh_after_reclassifying(
    store: Store,
) -> None:
    """A HubSpot subscription that merely agreed with a fabricated grant is adopted on re-read."""
    config = load_config(REPO, resolve_env=False)
    keys = {ADA_SF: MatchKeys(email="ada@example.com"), ADA_HS: MatchKeys(email="ada@example.com")}
    box = read(ADA_SF, "email_marketing", Status.GRANTED, "HasOptedOutOfEmail", 1)
    subscribed = read(ADA_HS, "email_marketing", Status.GRANTED, "marketing_email", 2, "consent")
    store.decisions.ingest(
        [box], keys, config.purposes, at(3)
    )  # the old version's fabricated grant...
    store.decisions.ingest(
        [subscribed], keys, config.purposes, at(4)
    )  # ...which the real one agreed with
    chunks = list(store.decisions.reclassify_grants(Rules.from_mappings(config.mappings), at(5)))
    assert sum(len(c.reclassified) for c in chunks) == 1
    assert states(store)[("ada@example.com", "email_marketing")] == "not_opted_out"
    store.decisions.ingest([subscribed], keys, config.purposes, at(6))  # the next pull or sweep
    assert states(store)[("ada@example.com", "email_marketing")] == "granted"
    latest = store.views.subject("ada@example.com").timeline[-1]
    assert (latest.status, latest.evidence.get("legal_basis")) == ("granted", "consent")
