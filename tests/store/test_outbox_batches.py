"""`mark_written_many`: a write batch settled in one transaction, exactly as one by one."""

from __future__ import annotations

from sqlalchemy import func, select

from consent_sync.domain.model import LinkKey, Status
from consent_sync.store import OutboxItem, Store
from consent_sync.store.tables import SHADOWS
from support.store_builders import SF, at, ingest, seen

PEOPLE = 5


def _hubspot(n: int) -> LinkKey:
    return LinkKey("hubspot", "contact", str(500 + n))


def _due_denials(store: Store) -> list[OutboxItem]:
    """Five people granted in both CRMs, then each revokes in Salesforce: five writes due to
    HubSpot."""
    for n in range(PEOPLE):
        sf, hs = LinkKey("salesforce", "Contact", f"003{n}"), _hubspot(n)
        emails: dict[LinkKey, str | None] = {sf: f"p{n}@example.com", hs: f"p{n}@example.com"}
        ingest(store, [seen(sf, Status.GRANTED, 0), seen(hs, Status.GRANTED, 0)], 1, emails)
        ingest(store, [seen(sf, Status.DENIED, 5)], 6, emails)
    due = store.outbox.due("hubspot", 100, at(6))
    assert len(due) == PEOPLE
    return due


def test_a_batch_is_settled_like_each_write_alone(store: Store) -> None:
    """Every row of the batch is gone, each delivery timed, each shadow holds the value written,
    and the echo of the writes is no decision."""
    due = _due_denials(store)
    store.outbox.mark_written_many(due, at(8))
    assert store.outbox.due("hubspot", 100, at(9)) == []
    for n in range(PEOPLE):
        (delivery,) = store.views.subject(f"p{n}@example.com").deliveries
        assert (delivery.status, delivery.time_to_apply_s) == ("denied", 180.0)
    with store.engine.connect() as connection:
        written = connection.execute(
            select(func.count()).where(
                SHADOWS.c.last_written == "denied", SHADOWS.c.last_seen == "denied"
            )
        ).scalar_one()
    assert written == PEOPLE
    echoes = [seen(_hubspot(n), Status.DENIED, 8) for n in range(PEOPLE)]
    emails: dict[LinkKey, str | None] = {_hubspot(n): f"p{n}@example.com" for n in range(PEOPLE)}
    report = ingest(store, echoes, 9, emails)
    assert (report.decisions, report.queued, report.conflicts) == (0, 0, 0)


def test_a_value_superseded_in_flight_is_queued_again_and_the_rest_settle(store: Store) -> None:
    """One person re-grants in Salesforce while the batch is in flight: that newer value is due
    after the batch lands; the other four are settled."""
    due = _due_denials(store)
    first = LinkKey("salesforce", "Contact", "0030")
    ingest(store, [seen(first, Status.GRANTED, 10)], 11, {first: "p0@example.com"})
    store.outbox.mark_written_many(due, at(12))
    (newer,) = store.outbox.due("hubspot", 100, at(12))
    assert (newer.link, newer.status) == (_hubspot(0), Status.GRANTED)


def test_an_empty_batch_changes_nothing(store: Store) -> None:
    """Nothing accepted, nothing settled (and no transaction fails on an empty statement)."""
    due = _due_denials(store)
    store.outbox.mark_written_many([], at(8))
    assert len(store.outbox.due("hubspot", 100, at(9))) == len(due)
    assert SF.system == "salesforce"
