"""Manual decisions and conflict resolution go through the same rule and propagate."""

from __future__ import annotations

import pytest

from consent_sync.domain.model import Evidence, Observation, Status, TimeKind
from consent_sync.store import ConflictNotResolvableError, Store
from support.store_builders import EMAIL, HS, PURPOSES, SF, at, ingest, seen


def _manual(status: Status, minutes: float, who: str = "alice") -> Observation:
    source = f"manual:{who}"
    evidence = Evidence(source=source, actor=who, note="called support")
    return Observation(
        source, None, "email_marketing", status, at(minutes), TimeKind.ASSERTED, evidence
    )


def test_manual_denial_is_ledgered_and_pushed_everywhere(store: Store) -> None:
    """A manual denial becomes a `manual:` ledger row and is queued for every linked record."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    applied = store.decisions.record(EMAIL, _manual(Status.DENIED, 5), PURPOSES, at(5))
    assert applied.ledger_seqs == (2,)
    row = store.views.subject(EMAIL).timeline[-1]
    assert (row.source, row.link, row.evidence["note"]) == ("manual:alice", None, "called support")
    assert {i.link for s in ("salesforce", "hubspot") for i in store.outbox.due(s, 10, at(5))} == {
        SF,
        HS,
    }


def test_manual_decision_for_a_new_person_creates_the_subject(store: Store) -> None:
    """Recording consent for an unknown email creates the subject with that state."""
    store.decisions.record("New@Example.com", _manual(Status.GRANTED, 0), PURPOSES, at(0))
    (state,) = store.views.subject("new@example.com").states
    assert (state.status, state.source, state.time_kind) == ("granted", "manual:alice", "asserted")


def test_resolving_a_blocked_grant_applies_the_human_decision(store: Store) -> None:
    """Resolving a grant_blocked conflict with a grant writes a `manual:<by>` row and pushes it."""
    ingest(store, [seen(SF, Status.DENIED, 10), seen(HS, Status.DENIED, 10)], 11)
    ingest(store, [seen(HS, Status.GRANTED, 5)], 12)
    (conflict,) = store.views.conflicts(open_only=True)
    assert conflict.id is not None
    applied = store.decisions.resolve_conflict(
        conflict.id,
        Status.GRANTED,
        by="bob",
        note="verified by phone",
        purposes=PURPOSES,
        now=at(20),
    )
    resolved = store.views.conflict(conflict.id)
    assert (resolved.status, resolved.resolved_by, resolved.resolution_note) == (
        "resolved",
        "bob",
        "verified by phone",
    )
    assert resolved.resolution_seq == applied.ledger_seqs[-1]
    row = store.views.subject(EMAIL).timeline[-1]
    assert (row.source, row.status, row.evidence["extra"]) == (
        "manual:bob",
        "granted",
        {"conflict_id": str(conflict.id)},
    )
    assert [i.status for i in store.outbox.due("salesforce", 10, at(20))] == [Status.GRANTED]
    assert list(store.views.conflicts(open_only=True)) == []
    with pytest.raises(ConflictNotResolvableError, match="resolved by bob"):
        store.decisions.resolve_conflict(
            conflict.id, Status.DENIED, by="eve", note="no", purposes=PURPOSES, now=at(21)
        )
