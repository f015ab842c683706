"""`POST /webhooks/{system}`: HubSpot's signed change notifications, turned into targeted reads.

The v3 signature is checked before the body is parsed; every header and id is parsed strictly
(ASCII digits, bounded length: `"²".isdigit()` is true in Python, so `isdigit` is not used). The
events' values are not trusted: only the records they name are kept, and the daemon re-reads
those through the connector (see `SyncEngine.read_named`). Each event's `eventId` (with its type
and object) is its key: a redelivered event queues nothing new. The answer is 204 once the ids
are queued in the store; errors are JSON `{"code", "message"}` (see `edge.py`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from consent_sync.config import DeploymentConfig, HubSpotConnector
from consent_sync.daemon.http.edge import error_response
from consent_sync.errors import ConsentSyncError
from consent_sync.store import WebhookNotice

MAX_BODY_BYTES = 1 << 20
MAX_AGE_MS = 5 * 60 * 1000
MAX_EVENTS = 1000  # HubSpot sends at most 100 per request
MAX_ID_DIGITS = 19  # HubSpot's ids are 64-bit
MAX_TIMESTAMP_DIGITS = 16  # milliseconds since 1970 have 13 digits until the year 2286
MAX_SIGNATURE_CHARS = 100  # base64 of a SHA-256 digest is 44
MAX_TYPE_CHARS = 100
#: HubSpot event type -> (object type in the mapping, whether it says the record is gone).
HUBSPOT_EVENTS: dict[str, tuple[str, bool]] = {
    "contact.creation": ("contacts", False),
    "contact.propertyChange": ("contacts", False),
    "contact.deletion": ("contacts", True),
}
#: Receives (system, the events' notices) and queues them; may block briefly (a store write).
ReadNow = Callable[[str, Sequence[WebhookNotice]], None]


class MalformedWebhook(ConsentSyncError, ValueError):
    """A signed body that is not a list of HubSpot events."""


def ascii_digits(value: object, max_digits: int) -> str | None:
    """`value` as a canonical decimal (no leading zeros) if it is 1..`max_digits` ASCII digits
    (a string) or a non-negative int of at most that many digits; otherwise None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value) if 0 <= value < 10**max_digits else ""
    elif isinstance(value, str):
        text = value
    else:
        return None
    if not re.fullmatch(rf"[0-9]{{1,{max_digits}}}", text):
        return None
    return text.lstrip("0") or "0"


def webhook_secrets(config: DeploymentConfig, systems: tuple[str, ...]) -> dict[str, str]:
    """The client secret of each running HubSpot system that has one: those accept webhooks."""
    secrets = {}
    for system in systems:
        connector = config.connectors[system]
        if isinstance(connector, HubSpotConnector) and connector.auth.client_secret is not None:
            secrets[system] = connector.auth.client_secret.get_secret_value()
    return secrets


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64 HMAC-SHA256 of method + URI + body + timestamp, as HubSpot signs."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signature_valid(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now_ms: int,
) -> bool:
    """Whether a request is HubSpot's: a matching v3 signature at most 5 minutes old."""
    if timestamp is None or not signature or len(signature) > MAX_SIGNATURE_CHARS:
        return False
    if ascii_digits(timestamp, MAX_TIMESTAMP_DIGITS) != timestamp:  # leading zeros refused too
        return False
    if abs(now_ms - int(timestamp)) > MAX_AGE_MS:
        return False
    expected = signature_v3(secret, method, uri, body, timestamp)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def webhook_notices(body: bytes) -> list[WebhookNotice]:
    """The records a batch of HubSpot events names, each with its event key.

    Event types the daemon does not sync are skipped; anything else malformed is rejected.
    """
    try:
        events: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, a huge int, deep nesting
        raise MalformedWebhook(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(events, list):
        raise MalformedWebhook("expected a list of events")
    if len(events) > MAX_EVENTS:
        raise MalformedWebhook(f"more than {MAX_EVENTS} events")
    notices = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise MalformedWebhook(f"event {index} is not an object")
        kind = event.get("subscriptionType")
        if not isinstance(kind, str) or not kind or len(kind) > MAX_TYPE_CHARS:
            raise MalformedWebhook(f"event {index} has no subscriptionType")
        if "objectId" not in event:
            raise MalformedWebhook(f"event {index} has no objectId")
        record_id = ascii_digits(event["objectId"], MAX_ID_DIGITS)
        if record_id is None:
            raise MalformedWebhook(f"event {index} has an invalid objectId")
        event_id = None
        if event.get("eventId") is not None:
            event_id = ascii_digits(event["eventId"], MAX_ID_DIGITS)
            if event_id is None:
                raise MalformedWebhook(f"event {index} has an invalid eventId")
        if kind not in HUBSPOT_EVENTS:
            continue
        object_type, deleted = HUBSPOT_EVENTS[kind]
        # HubSpot does not promise eventIds are unique across types and objects: keyed with them.
        key = None if event_id is None else f"{event_id}:{kind}:{record_id}"
        notices.append(WebhookNotice(object_type, record_id, deleted, key))
    return notices


def named_records(body: bytes) -> dict[tuple[str, str], bool]:
    """The records a batch names and whether a deletion named each (events' keys aside)."""
    named: dict[tuple[str, str], bool] = {}
    for notice in webhook_notices(body):
        key = (notice.object_type, notice.record_id)
        named[key] = named.get(key, False) or notice.deleted
    return named


def request_uri(request: Request) -> str:
    """The URL HubSpot called: this request's, with the scheme a TLS-terminating proxy saw."""
    url = request.url
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if forwarded in ("http", "https") and forwarded != url.scheme:
        url = url.replace(scheme=forwarded)
    return str(url)


async def _body(request: Request) -> bytes | None:
    """The request body, or None once it passes MAX_BODY_BYTES (read no further)."""
    declared = ascii_digits(request.headers.get("content-length", ""), 19)
    if declared is not None and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_router(
    secrets: Mapping[str, str],
    read_now: ReadNow,
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> APIRouter:
    """`POST /webhooks/{system}` for the systems in `secrets`; named records go to `read_now`."""
    router = APIRouter()

    @router.post("/webhooks/{system}", status_code=204)
    async def receive(system: str, request: Request) -> Response:
        secret = secrets.get(system)
        if secret is None:
            return error_response(404, "not_found", "this system takes no webhooks")
        body = await _body(request)
        if body is None:
            message = f"the body is over {MAX_BODY_BYTES} bytes"
            return error_response(413, "payload_too_large", message, close=True)
        headers = request.headers
        if not signature_valid(
            secret,
            request.method,
            request_uri(request),
            body,
            headers.get("x-hubspot-request-timestamp"),
            headers.get("x-hubspot-signature-v3"),
            clock_ms(),
        ):
            message = "no valid X-HubSpot-Signature-v3 from the last 5 minutes"
            return error_response(401, "unauthorized", message)
        try:
            notices = webhook_notices(body)
        except MalformedWebhook as exc:
            return error_response(400, "malformed_webhook", str(exc))
        if notices:
            # A store write: off the event loop, so other requests are served meanwhile.
            await run_in_threadpool(read_now, system, notices)
        return Response(status_code=204)

    return router
