"""Drift repair after a read-back: unexplained disagreements are re-queued and recorded."""

from __future__ import annotations

from sqlalchemy import delete

from consent_sync.domain.model import Status
from consent_sync.store import Store
from consent_sync.store.db import write_session
from consent_sync.store.tables import OutboxRow
from support.store_builders import EMAIL, HS, SF, at, ingest, seen


def _lose_pending_writes(store: Store) -> None:
    with write_session(store.engine) as session:
        session.execute(delete(OutboxRow))


def test_unexplained_disagreement_is_requeued_as_drift(store: Store) -> None:
    """A record still holding a stale value with no pending write gets it queued and a conflict."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(HS, Status.DENIED, 5)], 6)  # SF is due the denial...
    _lose_pending_writes(store)  # ...but the write is lost (a CRM that dropped it, say)
    assert store.outbox.pending("salesforce", 10, at(7)) == []
    assert store.decisions.repair_drift([(SF, "email_marketing", Status.GRANTED)], at(7)) == 1
    (item,) = store.outbox.pending("salesforce", 10, at(7))
    assert item.status is Status.DENIED
    drift = [c for c in store.views.conflicts() if c.kind == "drift"]
    assert len(drift) == 1
    assert drift[0].severity == "info"
    assert drift[0].link == str(SF)


def test_pending_write_explains_a_disagreement(store: Store) -> None:
    """A value that a queued write is about to fix is not drift."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(HS, Status.DENIED, 5)], 6)
    assert store.decisions.repair_drift([(SF, "email_marketing", Status.GRANTED)], at(7)) == 0
    assert [c for c in store.views.conflicts() if c.kind == "drift"] == []


def test_agreement_and_unknown_are_not_drift(store: Store) -> None:
    """Holding the canonical value, or a purpose the store knows nothing of, is not drift."""
    ingest(store, [seen(SF, Status.DENIED, 0), seen(HS, Status.DENIED, 0)], 1)
    held = [(SF, "email_marketing", Status.DENIED), (SF, "phone_calls", Status.GRANTED)]
    assert store.decisions.repair_drift(held, at(2)) == 0
    assert store.views.subject(EMAIL).pending == ()
