"""The outbox as the pusher uses it: due, written, retried, dead-lettered, requeued."""

from __future__ import annotations

import pytest

from consent_sync.domain.model import LinkKey, Status
from consent_sync.store import OutboxItem, OutboxItemNotFoundError, Store
from support.store_builders import EMAIL, HS, SF, at, ingest, seen


def _revoked(store: Store) -> OutboxItem:
    """SF and HS agree on a grant, then SF revokes at minute 5: one write due to HubSpot."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    (item,) = store.outbox.due("hubspot", 10, at(6))
    return item


def test_due_respects_system_limit_and_order(store: Store) -> None:
    """`due` returns only the named system's rows, oldest first, at most `limit`."""
    records = [LinkKey("hubspot", "contact", str(n)) for n in range(3)]
    for n, link in enumerate(records):
        emails = {SF: f"p{n}@example.com", link: f"p{n}@example.com"}
        ingest(store, [seen(SF, Status.GRANTED, 0), seen(link, Status.GRANTED, 0)], n, emails)
        sf = LinkKey("salesforce", "Contact", f"c{n}")
        ingest(store, [seen(sf, Status.DENIED, 0)], n, {sf: f"p{n}@example.com"})
    due = store.outbox.due("hubspot", 2, at(10))
    assert [item.link.record_id for item in due] == ["0", "1"]
    assert store.outbox.due("nowhere", 10, at(10)) == []


def test_written_updates_shadow_and_records_time_to_apply(store: Store) -> None:
    """A successful write removes the row, records the delivery, and its echo changes nothing."""
    item = _revoked(store)
    store.outbox.mark_written(item, at(8))
    assert store.outbox.due("hubspot", 10, at(9)) == []
    (delivery,) = store.views.subject(EMAIL).deliveries
    assert (delivery.link, delivery.status, delivery.time_to_apply_s) == (str(HS), "denied", 180.0)
    report = ingest(store, [seen(HS, Status.DENIED, 8)], 9)
    assert (report.decisions, report.queued, report.conflicts) == (0, 0, 0)


def test_an_old_denial_found_by_a_backfill_is_timed_from_the_first_sighting(store: Store) -> None:
    """A backfill finding a denial made long before consent-sync saw the other record times its
    write from that sighting (what status, the SLA and time-to-apply report), not the denial."""
    ingest(store, [seen(SF, Status.DENIED, 0), seen(HS, Status.NOT_OPTED_OUT, 0)], 600)
    (item,) = store.outbox.due("hubspot", 10, at(600))
    assert item.revoked_at == at(600)
    store.outbox.mark_written(item, at(601))
    (delivery,) = store.views.subject(EMAIL).deliveries
    assert delivery.time_to_apply_s == 60.0


def test_retry_hides_the_row_until_its_time(store: Store) -> None:
    """A transient failure counts the attempt and makes the row due again at `next_at`."""
    item = _revoked(store)
    store.outbox.mark_retry(item, "503 from HubSpot", at(20), at(7))
    assert store.outbox.due("hubspot", 10, at(19)) == []
    (again,) = store.outbox.due("hubspot", 10, at(20))
    assert again.attempts == 1
    (pending,) = store.views.subject(EMAIL).pending
    assert pending.last_error == "503 from HubSpot"


def test_dead_letter_records_push_rejected_and_is_not_requeued_by_sync(store: Store) -> None:
    """A permanent failure dead-letters the write with a push_rejected conflict; re-reads of the
    record do not queue it again until someone requeues it."""
    item = _revoked(store)
    conflict_id = store.outbox.mark_dead(item, "INVALID_FIELD: HasOptedOutOfEmail", at(7))
    conflict = store.views.conflict(conflict_id)
    assert (conflict.kind, conflict.severity, conflict.link) == (
        "push_rejected",
        "needs_review",
        str(HS),
    )
    assert "INVALID_FIELD" in conflict.message
    assert store.outbox.due("hubspot", 10, at(8)) == []
    ingest(store, [seen(HS, Status.GRANTED, 0)], 9)
    assert store.outbox.due("hubspot", 10, at(9)) == []
    store.outbox.requeue(item.id, at(10))
    (again,) = store.outbox.due("hubspot", 10, at(10))
    assert (again.id, again.status, again.attempts) == (item.id, Status.DENIED, 0)


def test_write_of_a_superseded_value_keeps_the_newer_row(store: Store) -> None:
    """A write that lands after the decision changed again queues the newer canonical value."""
    item = _revoked(store)
    ingest(store, [seen(SF, Status.GRANTED, 10)], 11)
    store.outbox.mark_written(item, at(12))
    (newer,) = store.outbox.due("hubspot", 10, at(12))
    assert newer.status is Status.GRANTED


def test_retry_of_an_unknown_row_is_refused(store: Store) -> None:
    """Marking a row that no longer exists raises a typed error naming it."""
    item = _revoked(store)
    store.outbox.mark_written(item, at(8))
    with pytest.raises(OutboxItemNotFoundError, match=str(item.id)):
        store.outbox.mark_retry(item, "late", at(9), at(9))


def test_echo_of_a_write_whose_ack_was_lost_is_not_a_decision(store: Store) -> None:
    """A claimed write that landed but was never acknowledged comes back as our echo, not as a
    new denial made in the system; the newer canonical value is pushed over it."""
    _revoked(store)  # the denial is claimed for HubSpot at minute 6 ...
    # ... HubSpot takes it, the process dies before mark_written, and Salesforce re-grants.
    ingest(store, [seen(SF, Status.GRANTED, 7)], 8)
    report = ingest(store, [seen(HS, Status.DENIED, 9)], 10)
    assert (report.decisions, report.conflicts) == (0, 0)
    assert store.views.subject(EMAIL).states[0].status == "granted"
    (again,) = store.outbox.due("hubspot", 10, at(10))
    assert again.status is Status.GRANTED


def test_a_claimed_write_that_never_landed_does_not_hide_a_later_revocation(store: Store) -> None:
    """A claim whose write never landed is forgotten once a different value is read back."""
    item = _revoked(store)  # HubSpot is due a denial; the pusher claims it, then dies
    assert item.status is Status.DENIED
    ingest(store, [seen(HS, Status.GRANTED, 7)], 7)  # read back: HubSpot still holds the grant
    ingest(store, [seen(SF, Status.GRANTED, 8)], 8)  # SF re-grants (a newer, changed grant)
    assert store.views.subject(EMAIL).states[0].status == "granted"
    report = ingest(store, [seen(HS, Status.DENIED, 9)], 9)  # a person unsubscribes in HubSpot
    assert report.decisions == 1, "the person's revocation was mistaken for our own echo"
    assert store.views.subject(EMAIL).states[0].status == "denied"


def test_pending_looks_without_claiming(store: Store) -> None:
    """`pending` lists due writes but claims nothing: a value read back is not an echo."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    (item,) = store.outbox.pending("hubspot", 10, at(6))
    assert item.status is Status.DENIED
    ingest(store, [seen(SF, Status.GRANTED, 7)], 7)  # SF re-grants before the push
    report = ingest(store, [seen(HS, Status.DENIED, 8)], 8)  # HubSpot's own revocation
    assert report.decisions == 1


def test_time_to_apply_reports_nearest_rank_percentiles_per_system(store: Store) -> None:
    """`status`'s time to apply: per system, how many denials landed since a moment, and the
    nearest-rank p50 and p99 of their decision-to-write times; older deliveries are left out."""
    for n in range(6):
        email = f"p{n}@example.com"
        sf = LinkKey("salesforce", "Contact", f"c{n}")
        hs = LinkKey("hubspot", "contact", str(n))
        ingest(
            store,
            [seen(sf, Status.GRANTED, 0), seen(hs, Status.GRANTED, 0)],
            0,
            {sf: email, hs: email},
        )
        ingest(store, [seen(sf, Status.DENIED, 1)], 1, {sf: email})
        (item,) = store.outbox.due("hubspot", 10, at(1))
        # Person 0's write landed long before the window; the others took 1..5 minutes.
        store.outbox.mark_written(item, at(1.5) if n == 0 else at(1 + n))
    times = store.views.time_to_apply(at(1.75))
    assert list(times) == ["hubspot"]
    hubspot = times["hubspot"]
    assert (hubspot.count, hubspot.p50_s, hubspot.p99_s) == (5, 180.0, 300.0)
    assert store.views.time_to_apply(at(10)) == {}
