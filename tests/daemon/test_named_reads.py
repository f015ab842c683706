"""The queue of records webhooks named: kept in the store, coalesced, unqueued once read."""

from __future__ import annotations

from consent_sync.daemon.named_reads import NamedReads
from consent_sync.store import Store, WebhookNotice


def notice(record_id: str, deleted: bool = False) -> WebhookNotice:
    return WebhookNotice("contacts", record_id, deleted)


def test_ids_named_while_queued_are_read_once_and_a_deletion_is_kept(sqlite_url: str) -> None:
    """Two webhooks naming one contact queue it once; a deletion among them is not lost."""
    with Store.open(sqlite_url) as store:
        reads = NamedReads(store)
        assert reads.add("hubspot", [notice("1", True), notice("2")])
        assert reads.add("hubspot", [notice("1"), notice("3")])
        assert reads.take("hubspot").named == {
            ("contacts", "1"): True,
            ("contacts", "2"): False,
            ("contacts", "3"): False,
        }


def test_done_empties_the_queue_and_systems_are_apart(sqlite_url: str) -> None:
    """What one read took is not read again once done; another system's ids stay queued."""
    with Store.open(sqlite_url) as store:
        reads = NamedReads(store)
        reads.add("hubspot", [notice("1")])
        reads.add("other", [notice("9")])
        taken = reads.take("hubspot")
        assert reads.take("hubspot").named == {("contacts", "1"): False}  # still queued
        reads.done(taken)
        assert reads.take("hubspot").named == {}
        reads.add("hubspot", [notice("4")])
        assert reads.take("hubspot").named == {("contacts", "4"): False}
        assert reads.take("other").named == {("contacts", "9"): False}
