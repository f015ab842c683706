"""Webhook deliveries in the store: a redelivered event queues nothing, queued records wait
until their read succeeds (across a restart), and a record named during its read is read again."""

from __future__ import annotations

from datetime import timedelta

from consent_sync.store import Store, WebhookNotice
from support.store_builders import at


def change(record_id: str, event_id: int | None, *, deleted: bool = False) -> WebhookNotice:
    kind = "contact.deletion" if deleted else "contact.propertyChange"
    key = None if event_id is None else f"{event_id}:{kind}:{record_id}"
    return WebhookNotice("contacts", record_id, deleted, key)


def test_a_redelivered_event_queues_nothing_new(store: Store) -> None:
    """The second delivery of event 7 (HubSpot retrying) queues nothing; its record waits once."""
    assert store.webhooks.accept("hubspot", [change("101", 7)], at(0)) == {
        ("contacts", "101"): False
    }
    assert store.webhooks.accept("hubspot", [change("101", 7)], at(1)) == {}
    assert store.webhooks.pending("hubspot").named == {("contacts", "101"): False}
    taken = store.webhooks.pending("hubspot")
    store.webhooks.read_done(taken)
    # Read and unqueued: a later redelivery of the same event still queues nothing.
    assert store.webhooks.accept("hubspot", [change("101", 7)], at(2)) == {}
    assert store.webhooks.pending("hubspot").named == {}


def test_new_events_in_a_redelivered_batch_are_queued_and_a_deletion_sticks(
    store: Store,
) -> None:
    """A batch mixing seen and new events queues the new ones; a deletion is kept with a change."""
    store.webhooks.accept("hubspot", [change("1", 1)], at(0))
    queued = store.webhooks.accept(
        "hubspot", [change("1", 1), change("2", 2), change("1", 3, deleted=True)], at(1)
    )
    assert queued == {("contacts", "1"): True, ("contacts", "2"): False}
    store.webhooks.accept("hubspot", [change("1", 4)], at(2))
    assert store.webhooks.pending("hubspot").named == {
        ("contacts", "1"): True,
        ("contacts", "2"): False,
    }


def test_events_without_an_id_are_never_taken_for_redeliveries(store: Store) -> None:
    """Without an eventId nothing can be compared: each delivery queues its record."""
    assert store.webhooks.accept("hubspot", [change("5", None)], at(0))
    store.webhooks.read_done(store.webhooks.pending("hubspot"))
    assert store.webhooks.accept("hubspot", [change("5", None)], at(1))


def test_a_record_named_during_its_read_stays_queued(store: Store) -> None:
    """A change arriving while the read that took its record runs is read by the next round."""
    store.webhooks.accept("hubspot", [change("1", 1), change("2", 2)], at(0))
    taken = store.webhooks.pending("hubspot")
    store.webhooks.accept("hubspot", [change("2", 3)], at(1))
    store.webhooks.read_done(taken)
    again = store.webhooks.pending("hubspot")
    assert again.named == {("contacts", "2"): False}
    store.webhooks.read_done(again)
    assert store.webhooks.pending("hubspot").named == {}


def test_queued_records_survive_reopening_the_store(migrated_db_url: str) -> None:
    """What a webhook queued is in the database: a new process (a new Store) finds it."""
    with Store.open(migrated_db_url) as first:
        first.webhooks.accept("hubspot", [change("42", 9, deleted=True)], at(0))
    with Store.open(migrated_db_url) as second:
        assert second.webhooks.pending("hubspot").named == {("contacts", "42"): True}
        assert second.webhooks.pending("other").named == {}
        assert second.webhooks.accept("hubspot", [change("42", 9, deleted=True)], at(1)) == {}


def test_event_keys_and_stuck_reads_are_forgotten_after_three_days(store: Store) -> None:
    """Pruning keeps the tables small; keys younger than the retention still de-duplicate, and
    a read queued for three days (it keeps failing) is given up to the polls."""
    store.webhooks.accept("hubspot", [change("1", 1)], at(0))
    store.webhooks.accept("hubspot", [change("2", 2)], at(60 * 24 * 3))
    removed = store.webhooks.prune(at(60 * 24 * 3 + 1), keep=timedelta(days=3))
    assert removed == {"webhook_events": 1, "named_reads": 1}
    assert store.webhooks.pending("hubspot").named == {("contacts", "2"): False}
    assert store.webhooks.accept("hubspot", [change("2", 2)], at(60 * 24 * 3 + 2)) == {}
    assert store.webhooks.accept("hubspot", [change("1", 1)], at(60 * 24 * 3 + 2)) != {}
