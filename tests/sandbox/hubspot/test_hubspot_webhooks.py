"""Outgoing webhooks: batched contact events, v3 signatures, HubSpot's retry rules."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)
from hubspot.utils.signature import Signature

from support.hubspot_emulator import Sandbox
from support.waiting import wait_for

SECRET = "webhook-test-secret"


@dataclass
class Received:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """A tiny local HTTP server answering webhook POSTs with scripted statuses (then 204)."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    arrived: int = 0  # POSTs whose body has been read, answered or not

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate` holds for what has been received so far."""
        wait_for(lambda: predicate(self.received), timeout, "the expected webhooks", every=0.02)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook target on a free loopback port."""
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            box.arrived += 1
            time.sleep(box.delay)  # the scenario: a slow target keeps the sender waiting
            box.received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(box.statuses.pop(0) if box.statuses else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/hubspot?portal=1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


def _configure(http: httpx.Client, receiver: Receiver, **options: Any) -> None:
    config = {
        "target_url": receiver.url,
        "client_secret": SECRET,
        "retry_base_seconds": 0.05,
        "flush_seconds": 0.05,
        **options,
    }
    response = http.put("/_sandbox/webhooks", json=config)
    assert response.status_code == 200, response.text


def _dropped(http: httpx.Client) -> int:
    """Events the sandbox has given up delivering since the target was configured."""
    return int(http.get("/_sandbox/webhooks").json()["dropped_events"])


def _act(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/_sandbox/act", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_footer_unsubscribe_sends_signed_property_change(
    http: httpx.Client, receiver: Receiver
) -> None:
    """A footer unsubscribe reaches the target as a propertyChange the v3 signature verifies."""
    _configure(http, receiver)
    _act(http, action="unsubscribe_all", id="130")
    receiver.wait_for(
        lambda got: any(e.get("propertyName") == "hs_email_optout" for r in got for e in r.events)
    )
    request = receiver.received[0]
    assert Signature.is_valid(
        signature=request.headers["X-HubSpot-Signature-v3"],
        client_secret=SECRET,
        request_body=request.body,
        http_uri=receiver.url,
        http_method="POST",
        signature_version="v3",
        timestamp=request.headers["X-HubSpot-Request-Timestamp"],
    )
    events = [e for r in receiver.received for e in r.events]
    optout = next(e for e in events if e["propertyName"] == "hs_email_optout")
    assert optout["objectId"] == 130
    assert optout["propertyValue"] == "true"
    assert optout["subscriptionType"] == "contact.propertyChange"
    assert optout["changeSource"] == "EMAIL"
    assert optout["attemptNumber"] == 0
    for key in ("eventId", "subscriptionId", "portalId", "appId", "occurredAt"):
        assert key in optout


def test_api_writes_creations_and_deletions_are_batched(
    sandbox: Sandbox, http: httpx.Client, receiver: Receiver
) -> None:
    """API writes, creations and deletions all produce events, at most max_batch per request."""
    _configure(http, receiver, max_batch=2, flush_seconds=0.2)
    inputs = [
        SimplePublicObjectBatchInput(id=str(i), properties={"phone": f"+1555000{i}"})
        for i in (131, 132, 133)
    ]
    sandbox.client().crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    )
    created = _act(http, action="create", email="hook.new@example.com")
    _act(http, action="delete", id=created["id"])
    receiver.wait_for(lambda got: sum(len(r.events) for r in got) >= 6)
    assert all(len(r.events) <= 2 for r in receiver.received)
    kinds = [
        (e["subscriptionType"], e.get("changeSource")) for r in receiver.received for e in r.events
    ]
    assert kinds.count(("contact.propertyChange", "API")) == 3
    api_event = next(e for r in receiver.received for e in r.events if e["changeSource"] == "API")
    assert api_event["sourceId"] == str(api_event["appId"])
    assert ("contact.creation", "CRM_UI") in kinds
    assert ("contact.deletion", "CRM_UI") in kinds


def test_failed_deliveries_are_retried_with_attempt_numbers(
    http: httpx.Client, receiver: Receiver
) -> None:
    """5xx and 429 answers are retried with the same events and a growing attemptNumber."""
    receiver.statuses = [503, 429, 500]
    _configure(http, receiver)
    _act(http, action="edit", id="134", properties={"firstname": "Retry"})
    receiver.wait_for(lambda got: len(got) >= 4)
    attempts = [r.events[0]["attemptNumber"] for r in receiver.received]
    assert attempts == [0, 1, 2, 3]
    assert len({r.events[0]["eventId"] for r in receiver.received}) == 1
    status = http.get("/_sandbox/webhooks").json()
    assert status["delivered_events"] == 1
    assert status["failed_requests"] == 3


def test_4xx_answers_are_not_retried_and_attempts_are_bounded(
    http: httpx.Client, receiver: Receiver
) -> None:
    """A 400 drops the batch at once; a target that always fails gets max_attempts tries."""
    receiver.statuses = [400]
    _configure(http, receiver)
    _act(http, action="edit", id="135", properties={"firstname": "Once"})
    receiver.wait_for(lambda got: len(got) >= 1)
    wait_for(lambda: _dropped(http) == 1, 5, "the sandbox to drop the batch")
    assert len(receiver.received) == 1
    assert http.get("/_sandbox/webhooks").json()["dropped_events"] == 1

    receiver.received.clear()
    receiver.statuses = [500] * 10
    _configure(http, receiver, max_attempts=3, retry_base_seconds=0.01)
    _act(http, action="edit", id="136", properties={"firstname": "Thrice"})
    receiver.wait_for(lambda got: len(got) >= 3)
    wait_for(lambda: _dropped(http) == 1, 5, "the sandbox to give the batch up")
    assert [r.events[0]["attemptNumber"] for r in receiver.received] == [0, 1, 2]
    assert http.get("/_sandbox/webhooks").json()["dropped_events"] == 1


def test_a_slow_target_never_blocks_the_api(http: httpx.Client, receiver: Receiver) -> None:
    """While the sender waits on a slow target, API calls answer at once."""
    receiver.delay = 0.6
    _configure(http, receiver)
    _act(http, action="edit", id="137", properties={"firstname": "Slow"})
    wait_for(lambda: receiver.arrived >= 1, 5, "the sender to be inside the slow request")
    started = time.monotonic()
    _act(http, action="edit", id="137", properties={"firstname": "Slower"})
    response = http.get("/crm/v3/objects/contacts/137")
    assert response.status_code == 200
    assert time.monotonic() - started < 0.5
    receiver.wait_for(lambda got: len(got) >= 2)
