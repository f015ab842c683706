"""Outbox row states: the column holds the same words as before OutboxState, and each state is
counted where an operator looks."""

from __future__ import annotations

from sqlalchemy import text

from consent_sync.domain.model import Status
from consent_sync.store import OutboxItem, OutboxState, Store
from support.store_builders import EMAIL, HS, SF, at, ingest, seen


def _revoked(store: Store) -> OutboxItem:
    """SF and HS agree on a grant, then SF revokes at minute 5: one write due to HubSpot."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    (item,) = store.outbox.due("hubspot", 10, at(6))
    return item


def _stored_states(store: Store) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.execute(text("SELECT state FROM outbox ORDER BY id")).scalars())


def test_states_are_stored_as_the_words_earlier_versions_wrote() -> None:
    """No migration: the enum's values are exactly the strings in existing databases."""
    assert [state.value for state in OutboxState] == ["pending", "dead", "withheld"]


def test_a_queued_write_is_stored_pending_and_a_dead_letter_dead(store: Store) -> None:
    """Queueing writes 'pending'; a permanent failure turns it into 'dead', requeue back."""
    item = _revoked(store)
    assert _stored_states(store) == ["pending"]
    store.outbox.mark_dead(item, "INVALID_FIELD", at(7))
    assert _stored_states(store) == ["dead"]
    (pending,) = store.views.subject(EMAIL).pending
    assert pending.state is OutboxState.DEAD
    store.outbox.requeue(item.id, at(8))
    assert _stored_states(store) == ["pending"]


def test_a_withheld_grant_is_stored_withheld_and_not_counted_as_dead(store: Store) -> None:
    """A grant the target cannot store is 'withheld': neither owed nor dead-lettered."""
    ingest(store, [seen(SF, Status.DENIED, 0), seen(HS, Status.DENIED, 0)], 1)
    ingest(store, [seen(SF, Status.GRANTED, 5)], 6)
    (grant,) = store.outbox.due("hubspot", 10, at(6))
    store.outbox.mark_withheld(grant, "no legal basis", at(7))
    assert _stored_states(store) == ["withheld"]
    owed = store.views.backlog().get("hubspot")
    assert owed is None or (owed.pending, owed.dead) == (0, 0)


def test_a_write_landing_after_a_newer_decision_queues_it_through_the_same_path(
    store: Store,
) -> None:
    """mark_written queues the newer canonical value as a fresh pending row, due at once."""
    item = _revoked(store)
    ingest(store, [seen(SF, Status.GRANTED, 10)], 11)
    store.outbox.mark_written(item, at(12))
    assert _stored_states(store) == ["pending"]
    (newer,) = store.outbox.due("hubspot", 10, at(12))
    assert (newer.status, newer.attempts) == (Status.GRANTED, 0)
    assert store.views.backlog()["hubspot"].pending == 1
