"""Resolving `identity_ambiguous`: merge the record into the other subject (a denial on either
side stays a denial, as a ledger row) or keep it apart; nonsense answers are refused."""

from __future__ import annotations

import pytest

from consent_sync.domain.identity import MatchKeys, read_email
from consent_sync.domain.model import LinkKey, Status
from consent_sync.store import ConflictNotResolvableError, Store
from support.store_builders import EMAIL, HS, PURPOSES, SF, at, ingest, seen

GRACE = "grace@example.com"
LEAD = LinkKey("salesforce", "Lead", "00QB")


def _ambiguous(store: Store, ada: Status, grace: Status) -> int:
    """Ada (Salesforce contact + HubSpot) and Grace (a Lead) with these marketing-email states;
    then Ada's contact takes Grace's email. Returns the open identity conflict's id."""
    ingest(store, [seen(SF, ada, 0), seen(HS, ada, 0)], 1)
    ingest(store, [seen(LEAD, grace, 0)], 2, emails={LEAD: GRACE})
    ingest(store, [seen(SF, ada, 0)], 3, emails={SF: GRACE})
    (conflict,) = store.views.conflicts(open_only=True, kind=None)
    assert conflict.kind == "identity_ambiguous" and conflict.id is not None
    return conflict.id


def _resolve(store: Store, conflict_id: int, *, merge: bool, minutes: float = 10):
    return store.decisions.resolve_identity(
        conflict_id, merge=merge, by="bob", note="same person", purposes=PURPOSES, now=at(minutes)
    )


def _state(store: Store, email: str) -> dict[str, str]:
    return {s.purpose: s.status for s in store.views.subject(email).states}


def test_merge_carries_the_former_subjects_denial_as_a_ledger_row(store: Store) -> None:
    """Ada denied, Grace granted: after the merge Grace is denied by a manual:bob ledger row that
    cites the conflict and Ada's own row; the denial is queued to Grace's Lead; Ada keeps hers."""
    conflict_id = _ambiguous(store, Status.DENIED, Status.GRANTED)
    ada_denial = store.views.subject(EMAIL).timeline[-1]
    merged = _resolve(store, conflict_id, merge=True)
    assert merged is not None and len(merged.ledger_seqs) == 1
    grace = store.views.subject(GRACE)
    assert merged.subject_id == grace.subject.id
    assert {link.record_id for link in grace.links} == {"00QB", "003A"}
    assert _state(store, GRACE) == {"email_marketing": "denied"}
    row = grace.timeline[-1]
    assert (row.seq, row.source, row.status, row.link) == (
        merged.ledger_seqs[0],
        "manual:bob",
        "denied",
        None,
    )
    assert row.evidence["collection_method"] == "identity_merge"
    assert row.evidence["note"] == "same person"
    assert row.evidence["extra"] == {
        "conflict_id": str(conflict_id),
        "merged_record": str(SF),
        "from_subject": str(store.views.subject(EMAIL).subject.id),
        "from_ledger_seq": str(ada_denial.seq),
    }
    # The Lead still says granted: the denial goes to it; the moved contact already holds it.
    assert [(p.link, p.status) for p in grace.pending] == [(str(LEAD), "denied")]
    assert _state(store, EMAIL) == {"email_marketing": "denied"}
    assert [link.record_id for link in store.views.subject(EMAIL).links] == ["501"]
    closed = store.views.conflict(conflict_id)
    assert (closed.status, closed.resolved_by, closed.resolution_seq) == (
        "resolved",
        "bob",
        merged.ledger_seqs[0],
    )
    assert store.views.verify_ledger().ok


def test_merge_never_lifts_the_other_subjects_denial(store: Store) -> None:
    """Ada granted, Grace denied: nothing to carry (a grant proves nothing about Grace), and the
    moved record, which still shows Ada's grant, is sent Grace's denial."""
    conflict_id = _ambiguous(store, Status.GRANTED, Status.DENIED)
    rows_before = len(list(store.views.ledger()))
    merged = _resolve(store, conflict_id, merge=True)
    assert merged is not None and merged.ledger_seqs == () and merged.queued == 1
    assert len(list(store.views.ledger())) == rows_before
    grace = store.views.subject(GRACE)
    assert _state(store, GRACE) == {"email_marketing": "denied"}
    assert [(p.link, p.status) for p in grace.pending] == [(str(SF), "denied")]
    assert _state(store, EMAIL) == {"email_marketing": "granted"}


def test_after_a_merge_the_record_is_quiet_and_decides_for_its_new_subject(store: Store) -> None:
    """I3: reading the merged record again changes nothing; its next change decides for Grace."""
    conflict_id = _ambiguous(store, Status.DENIED, Status.GRANTED)
    _resolve(store, conflict_id, merge=True)
    quiet = ingest(store, [seen(SF, Status.DENIED, 0)], 11, emails={SF: GRACE})
    assert (quiet.decisions, quiet.conflicts, quiet.queued) == (0, 0, 0)
    ingest(store, [seen(SF, Status.GRANTED, 12)], 13, emails={SF: GRACE})
    assert _state(store, GRACE) == {"email_marketing": "granted"}
    assert _state(store, EMAIL) == {"email_marketing": "denied"}


def test_keep_apart_closes_the_conflict_and_leaves_everything_be(store: Store) -> None:
    """Kept apart: the record stays with Ada, with her denial; nothing is ledgered or queued;
    reading it again does not ask again."""
    conflict_id = _ambiguous(store, Status.DENIED, Status.GRANTED)
    rows_before = len(list(store.views.ledger()))
    assert _resolve(store, conflict_id, merge=False) is None
    closed = store.views.conflict(conflict_id)
    assert (closed.status, closed.resolved_by, closed.resolution_note) == (
        "resolved",
        "bob",
        "same person",
    )
    assert closed.resolution_seq is None
    assert len(list(store.views.ledger())) == rows_before
    assert {link.record_id for link in store.views.subject(EMAIL).links} == {"003A", "501"}
    assert _state(store, GRACE) == {"email_marketing": "granted"}
    again = ingest(store, [seen(SF, Status.DENIED, 0)], 11, emails={SF: GRACE})
    assert (again.conflicts, again.decisions) == (0, 0)


def test_a_resolved_identity_conflict_cannot_be_resolved_again(store: Store) -> None:
    """The second answer is refused, naming who answered first."""
    conflict_id = _ambiguous(store, Status.DENIED, Status.GRANTED)
    _resolve(store, conflict_id, merge=False)
    with pytest.raises(ConflictNotResolvableError, match="resolved by bob"):
        _resolve(store, conflict_id, merge=True)


def test_identity_and_consent_answers_do_not_mix(store: Store) -> None:
    """A status cannot settle who a record is, and merge cannot settle a consent conflict."""
    conflict_id = _ambiguous(store, Status.DENIED, Status.GRANTED)
    with pytest.raises(ConflictNotResolvableError, match="about identity"):
        store.decisions.resolve_conflict(
            conflict_id, Status.GRANTED, by="bob", note="x", purposes=PURPOSES, now=at(10)
        )
    ingest(store, [seen(HS, Status.GRANTED, -5)], 11)  # older than the denial: grant_blocked
    blocked = [c for c in store.views.conflicts(open_only=True) if c.kind == "grant_blocked"]
    assert blocked and blocked[0].id is not None
    with pytest.raises(ConflictNotResolvableError, match="not identity_ambiguous"):
        _resolve(store, blocked[0].id, merge=True)
    assert store.views.conflict(conflict_id).status == "open"


def test_merge_refuses_a_refused_email_and_a_stale_conflict(store: Store) -> None:
    """A refused email names nobody to merge into; a record whose email changed again since the
    conflict is not merged on an outdated question."""
    _, refused = read_email("ada\u200b@example.com")
    store.decisions.ingest(
        [seen(LEAD, Status.DENIED, 0)], {LEAD: MatchKeys(refused=refused)}, PURPOSES, at(0)
    )
    (refusal,) = store.views.conflicts(open_only=True)
    assert refusal.id is not None
    with pytest.raises(ConflictNotResolvableError, match="no other subject"):
        _resolve(store, refusal.id, merge=True)
    assert _resolve(store, refusal.id, merge=False) is None

    conflict_id = _ambiguous(store, Status.DENIED, Status.GRANTED)
    ingest(store, [seen(SF, Status.DENIED, 0)], 4, emails={SF: "ada@elsewhere.example"})
    with pytest.raises(ConflictNotResolvableError, match="email changed since"):
        _resolve(store, conflict_id, merge=True)
