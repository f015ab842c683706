"""Ingestion: one transaction per batch writes ledger, state, conflicts, shadows and outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from consent_sync.domain.model import LinkKey, Observation, Status
from consent_sync.store import (
    Store,
    UnknownPurposeError,
    UnlinkedObservationError,
    outbox,
    queueing,
    snapshot,
)
from consent_sync.store.tables import (
    ConflictRow,
    ConsentStateRow,
    LedgerRow,
    LinkRow,
    OutboxRow,
    ShadowRow,
    SubjectRow,
)
from support.store_builders import EMAIL, HS, PURPOSES, SF, at, ingest, seen


def _count(store: Store, table: type) -> int:
    with Session(store.engine) as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_first_sight_is_adopted_with_one_ledger_row(store: Store) -> None:
    """A first observation becomes the canonical state, marked imported, with one ledger row."""
    report = ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    assert (report.decisions, report.subjects, report.unmatched) == (1, 1, 0)
    view = store.views.subject(EMAIL)
    (state,) = view.states
    assert (state.status, state.imported, state.source) == ("granted", True, "salesforce")
    assert state.ledger_seq == 1
    (row,) = view.timeline
    assert (row.rule, row.link, row.evidence["source_record"]) == (
        "first_sight",
        str(SF),
        str(SF),
    )


def test_revocation_is_queued_for_every_other_link(store: Store) -> None:
    """A denial in one system queues the denial for the subject's other records, with its time."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    report = ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    assert (report.decisions, report.queued) == (1, 1)
    (item,) = store.outbox.due("hubspot", 10, at(6))
    assert (item.link, item.status, item.revoked_at, item.decision_seq) == (
        HS,
        Status.DENIED,
        at(5),
        2,
    )
    assert store.outbox.due("salesforce", 10, at(6)) == []


def test_quiet_resync_changes_nothing(store: Store) -> None:
    """Re-reading the same values writes no ledger row, conflict or outbox row (I3)."""
    batch = [seen(SF, Status.DENIED, 0), seen(HS, Status.DENIED, 0)]
    ingest(store, batch, 1)
    report = ingest(store, batch, 2)
    assert (report.decisions, report.conflicts, report.queued) == (0, 0, 0)
    assert _count(store, LedgerRow) == 1
    assert _count(store, OutboxRow) == 0


def test_blocked_grant_records_conflict_and_pushes_the_denial_back(store: Store) -> None:
    """A grant older than the denial is refused; the conflict is recorded, the denial queued."""
    ingest(store, [seen(SF, Status.DENIED, 10), seen(HS, Status.DENIED, 10)], 11)
    report = ingest(store, [seen(HS, Status.GRANTED, 5)], 12)
    assert report.decisions == 0
    (conflict,) = store.views.conflicts()
    assert (conflict.kind, conflict.severity, conflict.link) == (
        "grant_blocked",
        "needs_review",
        str(HS),
    )
    assert conflict.subject_id == store.views.subject(EMAIL).subject.id
    (item,) = store.outbox.due("hubspot", 10, at(12))
    assert item.status is Status.DENIED


def test_failure_mid_transaction_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If writing the outbox fails, the ledger row and the state change roll back with it."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(queueing, "write", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    monkeypatch.undo()
    (state,) = store.views.subject(EMAIL).states
    assert state.status == "granted"
    assert _count(store, LedgerRow) == 1
    assert _count(store, OutboxRow) == 0
    with Session(store.engine) as session:
        assert {s.last_seen for s in session.execute(select(ShadowRow)).scalars()} == {"granted"}
    assert store.views.verify_ledger().rows == 1
    assert ingest(store, [seen(SF, Status.DENIED, 5)], 7).decisions == 1


def test_outbox_coalesces_to_one_pending_row_per_link_and_purpose(store: Store) -> None:
    """Flip-flopping decisions leave one pending row per (link, purpose) with the latest value."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    ingest(store, [seen(SF, Status.GRANTED, 10)], 11)
    ingest(store, [seen(SF, Status.DENIED, 15)], 16)
    items = store.outbox.due("hubspot", 10, at(16))
    assert [(i.link, i.status, i.revoked_at) for i in items] == [(HS, Status.DENIED, at(15))]
    assert _count(store, OutboxRow) == 1


def test_pending_write_is_dropped_when_the_system_already_agrees(store: Store) -> None:
    """If the system itself reaches the canonical value, the queued write to it is dropped."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    ingest(store, [seen(HS, Status.DENIED, 7)], 8)
    assert store.outbox.due("hubspot", 10, at(8)) == []
    assert _count(store, LedgerRow) == 2


def test_unmatched_records_are_counted_not_linked(store: Store) -> None:
    """A new record with no email is reported as unmatched and stores nothing."""
    report = ingest(store, [seen(SF, Status.DENIED, 0)], 1, emails={SF: None})
    assert (report.unmatched, report.subjects, report.decisions) == (1, 0, 0)
    assert _count(store, LedgerRow) == 0


def test_unknown_purpose_is_refused_and_rolls_back(store: Store) -> None:
    """An observation of a purpose the configuration lacks raises and records nothing."""
    with pytest.raises(UnknownPurposeError, match="fax_marketing"):
        ingest(store, [seen(SF, Status.DENIED, 0, purpose="fax_marketing")], 1)
    assert _count(store, LedgerRow) == 0
    assert _count(store, ConsentStateRow) == 0


def test_observation_without_link_is_refused(store: Store) -> None:
    """`ingest` is for CRM records; a decision with no record must go through `record`."""
    from dataclasses import replace

    with pytest.raises(UnlinkedObservationError):
        store.decisions.ingest(
            [replace(seen(SF, Status.DENIED, 0), link=None)], {}, PURPOSES, at(1)
        )


def test_initial_disagreement_records_info_conflict(store: Store) -> None:
    """Systems disagreeing at first sight: the denial is adopted and an info conflict records it."""
    report = ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.DENIED, 0)], 1)
    assert (report.decisions, report.conflicts) == (1, 1)
    (conflict,) = store.views.conflicts()
    assert (conflict.kind, conflict.severity) == ("initial_disagreement", "info")
    assert {side["source"] for side in conflict.sides} == {"salesforce", "hubspot"}
    assert [i.link for i in store.outbox.due("salesforce", 10, at(1))] == [SF]
    with Session(store.engine) as session:
        assert session.execute(select(func.count()).select_from(ConflictRow)).scalar_one() == 1


def test_a_failing_batch_records_no_decision_of_any_subject(store: Store) -> None:
    """A page's decisions land together: one bad observation among many people's rolls back
    every ledger row, state, shadow and outbox row of the page (its links stay resolved)."""
    people = [LinkKey("salesforce", "Contact", f"003{n}") for n in range(50)]
    batch = [seen(link, Status.DENIED, 0) for link in people]
    batch.insert(25, seen(HS, Status.DENIED, 0, purpose="fax_marketing"))
    emails: dict[LinkKey, str | None] = {link: f"p{n}@example.com" for n, link in enumerate(people)}
    with pytest.raises(UnknownPurposeError, match="fax_marketing"):
        ingest(store, batch, 1, emails=emails)
    for table in (LedgerRow, ConsentStateRow, ShadowRow, OutboxRow, ConflictRow):
        assert _count(store, table) == 0, table
    batch.pop(25)
    report = ingest(store, batch, 2, emails=emails)
    assert (report.subjects, report.decisions) == (50, 50)
    assert store.views.verify_ledger().rows == 50


def _person(store: Store, email: str) -> tuple[object, ...]:
    view = store.views.subject(email)
    return (
        [(s.purpose, s.status, s.decided_at, s.imported) for s in view.states],
        [(r.purpose, r.status, r.previous, r.rule, r.source) for r in view.timeline],
        [(p.link.split("/")[0], p.purpose, p.status, p.revoked_at) for p in view.pending],
        sorted(c.kind for c in store.views.conflicts() if c.subject_id == view.subject.id),
    )


def test_one_batch_of_many_people_decides_as_one_call_per_person(store: Store) -> None:
    """People ingested in one page end up exactly as when each person is ingested on their own."""

    def page(prefix: str) -> tuple[list[Observation], dict[LinkKey, str | None]]:
        observations, emails = [], {}
        for n in range(12):
            sf = LinkKey("salesforce", "Contact", f"{prefix}-sf-{n}")
            hs = LinkKey("hubspot", "contact", f"{prefix}-hs-{n}")
            emails.update({sf: f"{prefix}{n}@example.com", hs: f"{prefix}{n}@example.com"})
            for purpose in PURPOSES:
                observations.append(seen(sf, (Status.GRANTED, Status.DENIED)[n % 2], n, purpose))
                observations.append(seen(hs, list(Status)[n % 3], 20 - n, purpose))
        return observations, emails

    together, emails = page("a")
    ingest(store, together, 30, emails=emails)
    apart, apart_emails = page("b")
    for n in range(12):
        mine = [o for o in apart if o.link and o.link.record_id.endswith(f"-{n}")]
        ingest(store, mine, 30, emails=apart_emails)
    for n in range(12):
        assert _person(store, f"a{n}@example.com") == _person(store, f"b{n}@example.com")


def test_dry_run_of_new_records_reports_decisions_and_keeps_nothing(migrated_db_url: str) -> None:
    """A dry run decides against the records it has just linked, then rolls all of it back."""
    with Store.open(migrated_db_url, dry_run=True) as dry:
        report = ingest(dry, [seen(SF, Status.GRANTED, 0), seen(HS, Status.DENIED, 0)], 1)
        assert (report.subjects, report.decisions, report.conflicts, report.queued) == (1, 1, 1, 1)
        for table in (SubjectRow, LinkRow, LedgerRow, ConsentStateRow, ShadowRow, OutboxRow):
            assert _count(dry, table) == 0, table


@pytest.mark.postgres
def test_a_claim_made_while_a_page_is_decided_is_kept(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write claimed by `due` while an ingest of the same record is under way stays noted as
    written, so its echo is still recognised (ingest only clears it when a different value
    comes back)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    real_load = snapshot.load
    claimed: list[outbox.OutboxItem] = []

    def load_then_claim(session: Session, subject_ids: Sequence[uuid.UUID]) -> snapshot.Snapshot:
        loaded = real_load(session, subject_ids)
        with ThreadPoolExecutor(1) as pool:  # another replica's pusher, on its own connection
            claimed.extend(pool.submit(store.outbox.due, "hubspot", 10, at(7)).result())
        return loaded

    monkeypatch.setattr(snapshot, "load", load_then_claim)
    ingest(store, [seen(HS, Status.GRANTED, 0)], 8)
    assert [item.status for item in claimed] == [Status.DENIED]
    with Session(store.engine) as session:
        shadow = session.get(ShadowRow, (claimed[0].link_id, "email_marketing"))
        assert shadow is not None
        assert (shadow.last_seen, shadow.last_written) == ("granted", "denied")
