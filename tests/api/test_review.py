"""On-call through /api/v1: conflicts filtered, paged, shown and resolved (a `manual:<token>`
decision that is queued like any other); runs with their per-record rejections; systems;
dead letters listed and retried; a subject's revocations with where they landed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.conftest import ApiServer
from consent_sync.domain.model import Status
from consent_sync.store import Scope, Store
from support.store_builders import EMAIL, HS, SF, at, ingest, seen


def _blocked_grant(store: Store) -> int:
    """A HubSpot grant older than the denial: one open grant_blocked conflict; its id."""
    ingest(store, [seen(SF, Status.DENIED, 10), seen(HS, Status.DENIED, 10)], 11)
    ingest(store, [seen(HS, Status.GRANTED, 5)], 12)
    (conflict,) = store.views.conflicts(open_only=True)
    assert conflict.id is not None
    return conflict.id


def _dead_letter(store: Store) -> int:
    """A denial queued to Salesforce that Salesforce refused for good; the outbox id."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(HS, Status.DENIED, 5)], 6)
    (item,) = store.outbox.due("salesforce", 10, at(7))
    store.outbox.mark_dead(item, "INVALID_FIELD_FOR_INSERT_UPDATE: HasOptedOutOfEmail", at(8))
    return item.id


def test_conflicts_filter_and_page(api: ApiServer) -> None:
    """Open grant_blocked conflicts are found by kind and status; a page of 1 leads to the next."""
    blocked = _blocked_grant(api.store)
    with api.client(Scope.READ) as client:
        page = client.get("/api/v1/conflicts", params={"kind": "grant_blocked", "status": "open"})
        assert [c["id"] for c in page.json()["items"]] == [blocked]
        every = client.get("/api/v1/conflicts").json()["items"]
        first = client.get("/api/v1/conflicts", params={"limit": 1}).json()
        assert [c["id"] for c in first["items"]] == [every[0]["id"]]
        assert first["next_after"] == every[0]["id"]
        none = client.get("/api/v1/conflicts", params={"status": "resolved"}).json()
        assert none == {"items": [], "next_after": None}
        shown = client.get(f"/api/v1/conflicts/{blocked}").json()
        assert (shown["kind"], shown["severity"]) == ("grant_blocked", "needs_review")
        assert client.get("/api/v1/conflicts/999999").json()["code"] == "not_found"


def test_a_resolution_is_a_manual_decision_by_the_token_that_propagates(api: ApiServer) -> None:
    """Resolving as granted ledgers `manual:<token name>` with the note, queues the grant to
    the record that does not hold it, closes the conflict and wakes the pushers; a second
    resolve is 409."""
    blocked = _blocked_grant(api.store)
    body = {"status": "granted", "note": "confirmed by phone, ticket 4411"}
    response = api.post(f"/api/v1/conflicts/{blocked}/resolve", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["conflict"]["status"] == "resolved"
    assert answer["conflict"]["resolved_by"] == "test-write"
    assert answer["decision"]["recorded"] is True and answer["decision"]["queued"] == 1
    assert api.store.views.backlog()["salesforce"].pending == 1  # HubSpot holds it already
    row = api.store.views.subject(EMAIL).timeline[-1]
    assert (row.source, row.status, row.evidence["note"]) == (
        "manual:test-write",
        "granted",
        "confirmed by phone, ticket 4411",
    )
    assert api.woken == [1]
    again = api.post(f"/api/v1/conflicts/{blocked}/resolve", body)
    assert (again.status_code, again.json()["code"]) == (409, "conflict_not_resolvable")


def test_dead_letters_are_listed_and_retried_by_an_admin(api: ApiServer) -> None:
    """A dead letter shows its error; `write` may not retry it, `admin` may, once."""
    dead = _dead_letter(api.store)
    with api.client(Scope.READ) as client:
        (item,) = client.get("/api/v1/outbox/dead").json()["items"]
    assert (item["id"], item["system"], item["status"]) == (dead, "salesforce", "denied")
    assert "INVALID_FIELD" in item["last_error"]
    assert api.post(f"/api/v1/outbox/{dead}/retry", {}, Scope.WRITE).status_code == 403
    retried = api.post(f"/api/v1/outbox/{dead}/retry", {}, Scope.ADMIN)
    assert retried.json() == {"id": dead, "requeued": True}
    assert api.store.views.backlog()["salesforce"].pending == 1
    assert api.post(f"/api/v1/outbox/{dead}/retry", {}, Scope.ADMIN).status_code == 404


def test_a_run_shows_the_records_it_rejected_and_why(api: ApiServer) -> None:
    """The push run during which Salesforce refused a write lists that record and the reason."""
    started = datetime.now(UTC)
    run_id = api.store.coordination.start_run("salesforce", "push", started, "vm:4242:1a2b3c4d")
    ingest(api.store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(api.store, [seen(HS, Status.DENIED, 5)], 6)
    (item,) = api.store.outbox.due("salesforce", 10, started)
    api.store.outbox.mark_dead(item, "FIELD_INTEGRITY_EXCEPTION", started + timedelta(seconds=1))
    counts = {"writes_dead": 1}
    api.store.coordination.finish_run(run_id, counts, None, started + timedelta(seconds=2))
    with api.client(Scope.READ) as client:
        listed = client.get("/api/v1/runs", params={"system": "salesforce"}).json()["items"]
        detail = client.get(f"/api/v1/runs/{run_id}").json()
    assert [r["id"] for r in listed] == [str(run_id)]
    assert detail["counts"] == counts
    assert detail["runner"] == listed[0]["runner"] == "vm:4242:1a2b3c4d"
    (reject,) = detail["rejects"]
    assert reject["kind"] == "push_rejected"
    assert reject["link"] == str(SF)
    assert "FIELD_INTEGRITY_EXCEPTION" in reject["reason"]


def test_systems_report_backlog_and_dead_letters(api: ApiServer) -> None:
    """Each configured system is listed; a dead letter counts against Salesforce."""
    _dead_letter(api.store)
    with api.client(Scope.READ) as client:
        systems = {s["name"]: s for s in client.get("/api/v1/systems").json()["items"]}
    assert set(systems) == {"salesforce", "hubspot"}
    assert systems["salesforce"]["dead_letters"] == 1
    assert systems["hubspot"]["dead_letters"] == 0


def test_a_subject_shows_each_revocation_with_where_it_landed(api: ApiServer) -> None:
    """A denial written to Salesforce shows Salesforce's applied time; the state says denial."""
    ingest(api.store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(api.store, [seen(HS, Status.DENIED, 5)], 6)
    (item,) = api.store.outbox.due("salesforce", 10, at(7))
    api.store.outbox.mark_written(item, at(8))
    with api.client(Scope.READ) as client:
        subject = client.get("/api/v1/subjects", params={"email": EMAIL.upper()}).json()
        missing = client.get("/api/v1/subjects", params={"email": "nobody@example.com"})
    (state,) = subject["state"]
    assert (state["status"], state["kind"], state["explicit"]) == ("denied", "denial", True)
    (revocation,) = subject["revocations"]
    (applied,) = revocation["applied"]
    assert (applied["system"], applied["time_to_apply_s"]) == ("salesforce", 180.0)
    assert len(subject["timeline"]) == 2
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
