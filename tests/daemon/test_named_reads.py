"""The queue of records webhooks named: coalescing while a read runs."""

from __future__ import annotations

from consent_sync.daemon.named_reads import NamedReads


def test_ids_named_while_queued_are_read_once_and_a_deletion_is_kept() -> None:
    """Two webhooks naming one contact queue it once; a deletion among them is not lost."""
    reads = NamedReads()
    reads.add("hubspot", {("contacts", "1"): True, ("contacts", "2"): False})
    reads.add("hubspot", {("contacts", "1"): False, ("contacts", "3"): False})
    assert reads.take("hubspot") == {
        ("contacts", "1"): True,
        ("contacts", "2"): False,
        ("contacts", "3"): False,
    }


def test_take_empties_the_queue_and_systems_are_apart() -> None:
    """What one read took is not read again; another system's ids stay queued."""
    reads = NamedReads()
    reads.add("hubspot", {("contacts", "1"): False})
    reads.add("other", {("contacts", "9"): False})
    assert reads.take("hubspot") == {("contacts", "1"): False}
    assert reads.take("hubspot") == {}
    reads.add("hubspot", {("contacts", "4"): False})
    assert reads.take("hubspot") == {("contacts", "4"): False}
    assert reads.take("other") == {("contacts", "9"): False}
