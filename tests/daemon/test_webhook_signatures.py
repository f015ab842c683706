"""`POST /webhooks/{system}`: HubSpot v3 signatures, hostile input, and what is handed on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consent_sync.daemon.http.webhooks import MAX_BODY_BYTES, named_records, webhook_router
from consent_sync_sandbox.hubspot.webhooks import sign_v3

SECRET = "test-client-secret"
NOW_MS = 1_800_000_000_000
URL = "http://testserver/webhooks/hubspot"
EVENTS = [
    {"subscriptionType": "contact.propertyChange", "objectId": 101, "propertyValue": "true"},
    {"subscriptionType": "contact.creation", "objectId": 102},
    {"subscriptionType": "contact.deletion", "objectId": 103},
    {"subscriptionType": "company.creation", "objectId": 9},
]

Received = list[tuple[str, dict[tuple[str, str], bool]]]


@pytest.fixture
def received() -> Received:
    return []


@pytest.fixture
def client(received: Received) -> TestClient:
    def read_now(system: str, named: Mapping[tuple[str, str], bool]) -> None:
        received.append((system, dict(named)))

    app = FastAPI()
    app.include_router(webhook_router({"hubspot": SECRET}, read_now, lambda: NOW_MS))
    return TestClient(app)


def signed(
    body: str,
    *,
    url: str = URL,
    secret: str = SECRET,
    timestamp: int = NOW_MS,
) -> dict[str, str]:
    return {
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, str(timestamp)),
        "X-HubSpot-Request-Timestamp": str(timestamp),
        "Content-Type": "application/json",
    }


def post(
    client: TestClient, body: str, headers: dict[str, str], path: str = "/webhooks/hubspot"
) -> Any:
    return client.post(path, content=body.encode(), headers=headers)


def test_valid_signature_is_accepted_and_hands_on_only_the_named_ids(
    client: TestClient, received: Received
) -> None:
    """A correctly signed batch is 204; the contact ids go on, deletions marked, values dropped."""
    body = json.dumps(EVENTS)
    response = post(client, body, signed(body))
    assert response.status_code == 204
    assert received == [
        (
            "hubspot",
            {("contacts", "101"): False, ("contacts", "102"): False, ("contacts", "103"): True},
        )
    ]


def test_a_timestamp_four_minutes_old_is_still_accepted(client: TestClient) -> None:
    """HubSpot's replay window is five minutes: a request inside it passes."""
    body = json.dumps(EVENTS)
    assert post(client, body, signed(body, timestamp=NOW_MS - 240_000)).status_code == 204


def test_forwarded_proto_is_honoured_for_the_signed_url(client: TestClient) -> None:
    """Behind a TLS-terminating proxy HubSpot signs the https URL; X-Forwarded-Proto says so."""
    body = json.dumps(EVENTS)
    headers = signed(body, url=URL.replace("http://", "https://"))
    assert post(client, body, headers).status_code == 401
    assert post(client, body, {**headers, "X-Forwarded-Proto": "https"}).status_code == 204


@pytest.mark.parametrize(
    "tamper",
    [
        "wrong secret",
        "other body",
        "other url",
        "stale",
        "future",
        "no signature",
        "no timestamp",
        "garbage timestamp",
        "garbage signature",
    ],
)
def test_bad_signatures_are_401_and_hand_nothing_on(
    client: TestClient, received: Received, tamper: str
) -> None:
    """Wrong secret, tampered body or URL, a timestamp over 5 minutes off, missing headers: 401."""
    body = json.dumps(EVENTS)
    headers = {
        "wrong secret": signed(body, secret="not-the-secret"),
        "other body": signed(json.dumps(EVENTS[:1])),
        "other url": signed(body, url="http://testserver/webhooks/other"),
        "stale": signed(body, timestamp=NOW_MS - 301_000),
        "future": signed(body, timestamp=NOW_MS + 301_000),
        "no signature": {"X-HubSpot-Request-Timestamp": str(NOW_MS)},
        "no timestamp": {"X-HubSpot-Signature-v3": signed(body)["X-HubSpot-Signature-v3"]},
        "garbage timestamp": {**signed(body), "X-HubSpot-Request-Timestamp": "soon"},
        "garbage signature": {**signed(body), "X-HubSpot-Signature-v3": "%" * 44},
    }[tamper]
    assert post(client, body, headers).status_code == 401
    assert received == []


def test_unknown_system_is_404(client: TestClient) -> None:
    """A system that does not take webhooks (unknown, or no client secret) is 404."""
    body = json.dumps(EVENTS)
    url = "http://testserver/webhooks/salesforce"
    response = post(client, body, signed(body, url=url), path="/webhooks/salesforce")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "\xff\xfe",
        '{"objectId": 1}',
        "[1, 2]",
        '[{"objectId": 1}]',
        '[{"subscriptionType": "contact.creation"}]',
        '[{"subscriptionType": "contact.creation", "objectId": "1; DROP TABLE"}]',
        '[{"subscriptionType": "contact.creation", "objectId": true}]',
        '[{"subscriptionType": "contact.creation", "objectId": [1]}]',
    ],
)
def test_signed_garbage_is_400(client: TestClient, received: Received, body: str) -> None:
    """A correctly signed body that is not a list of events with ids is 400, never 5xx."""
    assert post(client, body, signed(body)).status_code == 400
    assert received == []


def test_oversized_body_is_413(client: TestClient, received: Received) -> None:
    """A body over 1 MiB is refused before it is verified or parsed."""
    body = "[" + " " * MAX_BODY_BYTES + "]"
    assert post(client, body, signed(body)).status_code == 413
    assert received == []


def test_ids_named_twice_are_one_record_and_a_deletion_sticks() -> None:
    """A change and a deletion of one contact name it once, as deleted."""
    body = json.dumps(
        [
            {"subscriptionType": "contact.deletion", "objectId": 7},
            {"subscriptionType": "contact.propertyChange", "objectId": "7"},
        ]
    ).encode()
    assert named_records(body) == {("contacts", "7"): True}


def test_batch_of_only_unsynced_event_types_is_accepted_and_reads_nothing(
    client: TestClient, received: Received
) -> None:
    """Events for objects the daemon does not sync are acknowledged (204) and ignored."""
    body = json.dumps([{"subscriptionType": "company.creation", "objectId": 5}])
    assert post(client, body, signed(body)).status_code == 204
    assert received == []
