"""HubSpot webhooks into a real `consent-sync run`: with polling five minutes apart, a change in
HubSpot still reaches Salesforce in seconds, a deleted contact's link ends, a redelivered event
queues nothing and the ids a webhook queued survive a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from consent_sync.store import Store
from consent_sync_sandbox.hubspot.webhooks import sign_v3
from support.convergence import shared_granted_people
from support.daemon import Harness
from support.sandboxes import MARKETING
from support.waiting import wait_for

CONTACTS = 120
SANDBOX_SEED = 11
PULL_INTERVAL = "300"  # polling cannot explain anything these tests see


@pytest.fixture(autouse=True)
def _no_webhook_target_afterwards(harness: Harness) -> Iterator[None]:
    """The sandbox stops posting webhooks when a test ends, before its daemons are stopped."""
    yield
    with harness.control("hubspot") as hubspot:
        hubspot.delete("/_sandbox/webhooks")


def backfilled(store: Store) -> bool:
    """Each system's first pull has finished and nothing is owed to either."""
    pulled = all(
        any(r.kind == "pull" and r.finished_at is not None for r in store.views.recent_runs(s, 5))
        for s in ("salesforce", "hubspot")
    )
    return pulled and not any(b.pending for b in store.views.backlog().values())


def started_with_webhooks(harness: Harness, store: Store) -> None:
    """A daemon on a 300 s pull interval, backfilled, with the sandbox posting webhooks to it."""
    daemon = harness.daemon("--pull-interval", PULL_INTERVAL)
    daemon.wait_ready()
    wait_for(lambda: backfilled(store), 60, "the backfill")
    with harness.control("hubspot") as hubspot:
        response = hubspot.put(
            "/_sandbox/webhooks",
            json={
                "target_url": daemon.url("/webhooks/hubspot"),
                "client_secret": harness.sandbox.env["HUBSPOT_CLIENT_SECRET"],
                "retry_base_seconds": 0.5,
                "flush_seconds": 0.05,
            },
        )
    assert response.status_code == 200, response.text


def webhook_runs(store: Store) -> int:
    return sum(1 for r in store.views.recent_runs("hubspot", 50) if r.kind == "webhook")


def test_hubspot_unsubscribe_reaches_salesforce_through_the_webhook(harness: Harness) -> None:
    """A footer unsubscribe in HubSpot is in Salesforce within 5 s with pulls 300 s apart."""
    with Store.open(harness.database_url) as store:
        started_with_webhooks(harness, store)
        person = shared_granted_people(store, 1)[0]
        assert all(r["HasOptedOutOfEmail"] is False for r in harness.salesforce_records(person))
        started = time.monotonic()
        harness.act(
            "hubspot", {"action": "unsubscribe", "email": person, "subscription_id": MARKETING}
        )

        def arrived() -> bool:
            records = harness.salesforce_records(person)
            return bool(records) and all(r["HasOptedOutOfEmail"] is True for r in records)

        wait_for(arrived, 5, "the revocation in Salesforce", every=0.05)
        latency = time.monotonic() - started
        print(f"\npropagation HubSpot -> Salesforce (webhook path, 300 s polls): {latency:.2f} s")
        assert webhook_runs(store) >= 1
        with harness.control("hubspot") as hubspot:
            stats = hubspot.get("/_sandbox/webhooks").json()
        assert stats["delivered_events"] >= 1 and stats["failed_requests"] == 0, stats
    assert harness.daemons[0].terminate() == 0


def test_deleted_hubspot_contact_ends_its_link_through_the_webhook(harness: Harness) -> None:
    """Deleting a contact in HubSpot ends its link in the store within seconds, without a poll."""
    with Store.open(harness.database_url) as store:
        started_with_webhooks(harness, store)
        person = shared_granted_people(store, 1)[0]
        contact_id = harness.hubspot_contact(person)["id"]
        harness.act("hubspot", {"action": "delete", "id": contact_id})

        def ended() -> bool:
            with store.engine.connect() as connection:
                ended_at = connection.execute(
                    text(
                        "SELECT ended_at FROM links WHERE system = 'hubspot' "
                        "AND object_type = 'contacts' AND record_id = :id"
                    ),
                    {"id": contact_id},
                ).scalar_one()
            return ended_at is not None

        wait_for(ended, 5, "the link to end")
    assert harness.daemons[0].terminate() == 0


def test_daemon_refuses_unsigned_webhooks(harness: Harness) -> None:
    """Over real HTTP: an unsigned post is 401, Salesforce (no client secret) is 404."""
    daemon = harness.daemon("--pull-interval", PULL_INTERVAL)
    daemon.wait_ready()
    events = [{"subscriptionType": "contact.deletion", "objectId": 1}]
    assert httpx.post(daemon.url("/webhooks/hubspot"), json=events).status_code == 401
    assert httpx.post(daemon.url("/webhooks/salesforce"), json=events).status_code == 404
    assert daemon.terminate() == 0


def post_events(harness: Harness, url: str, events: list[dict[str, Any]]) -> int:
    """POST `events` to `url` signed as HubSpot signs with the sandbox's client secret."""
    body = json.dumps(events)
    timestamp = str(time.time_ns() // 1_000_000)
    secret = harness.sandbox.env["HUBSPOT_CLIENT_SECRET"]
    headers = {
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    return httpx.post(url, content=body.encode(), headers=headers).status_code


def change_event(event_id: int, contact_id: str, attempt: int = 0) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionType": "contact.propertyChange",
        "objectId": int(contact_id),
        "attemptNumber": attempt,
        "propertyName": "email",
        "propertyValue": "ignored@example.com",
    }


def webhook_records_read(store: Store) -> int:
    """Records read by the daemon's webhook-triggered runs so far."""
    runs = store.views.recent_runs("hubspot", 100)
    return sum(r.counts.get("records_read", 0) for r in runs if r.kind == "webhook")


def test_a_redelivered_event_is_read_once(harness: Harness) -> None:
    """HubSpot delivering event 500 again (attemptNumber 1) queues nothing; a new event does."""
    daemon = harness.daemon("--pull-interval", PULL_INTERVAL)
    daemon.wait_ready()
    url = daemon.url("/webhooks/hubspot")
    with Store.open(harness.database_url) as store:
        wait_for(lambda: backfilled(store), 60, "the backfill")
        first, second = (harness.hubspot_contact(p)["id"] for p in shared_granted_people(store, 2))
        assert post_events(harness, url, [change_event(500, first)]) == 204
        wait_for(lambda: webhook_records_read(store) == 1, 10, "the first event's read")
        assert post_events(harness, url, [change_event(500, first, attempt=1)]) == 204
        assert post_events(harness, url, [change_event(501, second)]) == 204

        def drained() -> bool:
            return not store.webhooks.pending("hubspot").named and webhook_records_read(store) >= 2

        wait_for(drained, 10, "the second event's read")
        assert webhook_records_read(store) == 2
    assert daemon.terminate() == 0


def test_ids_a_webhook_queued_survive_a_restart(harness: Harness) -> None:
    """Queued while the system is busy elsewhere, then kill -9: the next daemon reads them."""
    daemon = harness.daemon("--pull-interval", PULL_INTERVAL)
    daemon.wait_ready()
    url = daemon.url("/webhooks/hubspot")
    elsewhere = "another-host:1:replica"
    with Store.open(harness.database_url) as store:
        wait_for(lambda: backfilled(store), 60, "the backfill")
        contact = harness.hubspot_contact(shared_granted_people(store, 1)[0])["id"]

        def held_elsewhere() -> bool:  # as if another replica were working on HubSpot
            now = datetime.now(UTC)
            until = now + timedelta(minutes=10)
            return store.coordination.acquire_lease("system:hubspot", elsewhere, until, now)

        wait_for(held_elsewhere, 30, "the HubSpot lease")
        assert post_events(harness, url, [change_event(700, contact)]) == 204
        assert store.webhooks.pending("hubspot").named == {("contacts", contact): False}
        daemon.kill()
        assert store.webhooks.pending("hubspot").named == {("contacts", contact): False}
        assert store.coordination.release_lease("system:hubspot", elsewhere)
        restarted = harness.daemon("--pull-interval", PULL_INTERVAL)
        restarted.wait_ready()

        def read_after_restart() -> bool:
            return not store.webhooks.pending("hubspot").named and webhook_records_read(store) == 1

        wait_for(read_after_restart, 30, "the queued id to be read by the new daemon")
        # The redelivery HubSpot sends after the restart (it saw no answer) queues nothing.
        restarted_url = restarted.url("/webhooks/hubspot")
        assert post_events(harness, restarted_url, [change_event(700, contact, attempt=1)]) == 204
        assert store.webhooks.pending("hubspot").named == {}
    assert restarted.terminate() == 0
