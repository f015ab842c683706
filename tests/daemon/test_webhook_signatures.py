"""`POST /webhooks/{system}`: HubSpot v3 signatures, hostile input, and what is handed on.

The app is built as the daemon builds it (the edge's error handling included), served in-process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consent_sync.daemon.http.edge import install_error_handlers
from consent_sync.daemon.http.webhooks import MAX_BODY_BYTES, named_records, webhook_router
from consent_sync.store import WebhookNotice
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
DIGITS_THAT_ARE_NOT_ASCII = ["²", "٣", "\uff11\uff12\uff13", "1²"]  # each is .isdigit() in Python


@pytest.fixture
def received() -> Received:
    return []


@pytest.fixture
def client(received: Received) -> TestClient:
    def read_now(system: str, notices: Sequence[WebhookNotice]) -> None:
        named: dict[tuple[str, str], bool] = {}
        for notice in notices:
            key = (notice.object_type, notice.record_id)
            named[key] = named.get(key, False) or notice.deleted
        received.append((system, named))

    app = FastAPI(redirect_slashes=False)
    install_error_handlers(app)
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


def wire(value: str) -> bytes:
    """A header value's bytes: Latin-1 where it can be, as the server decodes it ("²" is 0xB2)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


def post(
    client: TestClient, body: str, headers: dict[str, str], path: str = "/webhooks/hubspot"
) -> Any:
    raw = {name: wire(value) for name, value in headers.items()}
    return client.post(path, content=body.encode(), headers=raw)


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


def error_of(response: Any) -> str:
    """The `code` of a JSON error body; fails unless the body is `{"code", "message"}`."""
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["message"], str) and body["message"]
    code: str = body["code"]
    return code


@pytest.mark.parametrize(
    "timestamp",
    [*DIGITS_THAT_ARE_NOT_ASCII, "9" * 5000, "0" * 4000 + str(NOW_MS), " 1800000000000", "-1"],
)
def test_a_hostile_timestamp_is_401_with_a_json_error(
    client: TestClient, received: Received, timestamp: str
) -> None:
    """Non-ASCII digits, 5,000 digits, padding or a sign in the timestamp: 401, never 500."""
    body = json.dumps(EVENTS)
    headers = {**signed(body), "X-HubSpot-Request-Timestamp": timestamp}
    response = post(client, body, headers)
    assert response.status_code == 401
    assert error_of(response) == "unauthorized"
    assert received == []


def test_a_signature_of_any_length_or_alphabet_is_401(client: TestClient) -> None:
    """A 10,000-character or non-ASCII signature is refused like a wrong one."""
    body = json.dumps(EVENTS)
    for signature in ("A" * 10_000, "é" * 44, "²" * 44):
        headers = {**signed(body), "X-HubSpot-Signature-v3": signature}
        assert post(client, body, headers).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        *(
            json.dumps([{"subscriptionType": "contact.creation", "objectId": digits}])
            for digits in DIGITS_THAT_ARE_NOT_ASCII
        ),
        '[{"subscriptionType": "contact.creation", "objectId": ' + "7" * 5000 + "}]",
        '[{"subscriptionType": "contact.creation", "objectId": 1.5}]',
        '[{"subscriptionType": "contact.creation", "objectId": -4}]',
        '[{"subscriptionType": "contact.creation", "objectId": "' + "1" * 20 + '"}]',
        '[{"subscriptionType": "contact.creation", "objectId": 1, "eventId": "²"}]',
        '[{"subscriptionType": "contact.creation", "objectId": 1, "eventId": [1]}]',
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        json.dumps([{"subscriptionType": "x" * 1000, "objectId": 1}]),
        json.dumps([{"subscriptionType": "contact.creation", "objectId": 1}] * 1001),
    ],
    ids=lambda body: body[:40],
)
def test_signed_hostile_ids_and_nesting_are_400(
    client: TestClient, received: Received, body: str
) -> None:
    """Signed, but ids in non-ASCII digits, huge or fractional, 100,000 nested brackets: 400."""
    response = post(client, body, signed(body))
    assert response.status_code == 400
    assert error_of(response) == "malformed_webhook"
    assert received == []


def test_every_error_is_json_with_a_code(client: TestClient) -> None:
    """Unknown system, unsigned, oversized and unknown routes all answer `{"code", "message"}`."""
    body = json.dumps(EVENTS)
    url = "http://testserver/webhooks/salesforce"
    assert error_of(post(client, body, signed(body, url=url), "/webhooks/salesforce")) == (
        "not_found"
    )
    assert error_of(post(client, body, {})) == "unauthorized"
    huge = "[" + " " * MAX_BODY_BYTES + "]"
    assert error_of(post(client, huge, signed(huge))) == "payload_too_large"
    assert error_of(client.get("/webhooks/hubspot")) == "method_not_allowed"
    assert error_of(client.get("/nothing/here")) == "not_found"


def test_ids_are_canonical_decimals() -> None:
    """ "0007" and 7 name one contact, so a record is not queued twice under two spellings."""
    body = json.dumps(
        [
            {"subscriptionType": "contact.propertyChange", "objectId": "0007"},
            {"subscriptionType": "contact.propertyChange", "objectId": 7},
        ]
    ).encode()
    assert named_records(body) == {("contacts", "7"): False}
