"""`POST /webhooks/{system}`: HubSpot's signed change notifications, turned into targeted reads.

The v3 signature is checked before the body is parsed. The events' values are not trusted: only
the records they name are kept, and the daemon re-reads those through the connector (see
`SyncEngine.read_named`). The answer is 204 as soon as the ids are queued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request, Response

from consent_sync.config import DeploymentConfig, HubSpotConnector
from consent_sync.errors import ConsentSyncError

MAX_BODY_BYTES = 1 << 20
MAX_AGE_MS = 5 * 60 * 1000
#: HubSpot event type -> (object type in the mapping, whether it says the record is gone).
HUBSPOT_EVENTS: dict[str, tuple[str, bool]] = {
    "contact.creation": ("contacts", False),
    "contact.propertyChange": ("contacts", False),
    "contact.deletion": ("contacts", True),
}
#: Receives (system, {(object type, record id): deleted}); must not block.
ReadNow = Callable[[str, Mapping[tuple[str, str], bool]], None]


class MalformedWebhook(ConsentSyncError, ValueError):
    """A signed body that is not a list of HubSpot events."""


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
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now_ms - int(timestamp)) > MAX_AGE_MS:
        return False
    expected = signature_v3(secret, method, uri, body, timestamp)
    return hmac.compare_digest(expected.encode(), signature.encode())


def named_records(body: bytes) -> dict[tuple[str, str], bool]:
    """The records a batch of HubSpot events names, and whether a deletion named each.

    Event types the daemon does not sync are skipped; anything else malformed is rejected.
    """
    try:
        events: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedWebhook(f"not JSON: {exc}") from None
    if not isinstance(events, list):
        raise MalformedWebhook("expected a list of events")
    named: dict[tuple[str, str], bool] = {}
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise MalformedWebhook(f"event {index} is not an object")
        kind, object_id = event.get("subscriptionType"), event.get("objectId")
        if not isinstance(kind, str):
            raise MalformedWebhook(f"event {index} has no subscriptionType")
        if isinstance(object_id, bool) or not isinstance(object_id, int | str):
            raise MalformedWebhook(f"event {index} has no objectId")
        record_id = str(object_id)
        if not record_id.isdigit() or len(record_id) > 30:
            raise MalformedWebhook(f"event {index} has an invalid objectId")
        if kind not in HUBSPOT_EVENTS:
            continue
        object_type, deleted = HUBSPOT_EVENTS[kind]
        key = (object_type, str(int(record_id)))
        named[key] = named.get(key, False) or deleted
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
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
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
            return Response(status_code=404)
        body = await _body(request)
        if body is None:
            return Response(status_code=413)
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
            return Response(status_code=401)
        try:
            named = named_records(body)
        except MalformedWebhook:
            return Response(status_code=400)
        if named:
            read_now(system, named)
        return Response(status_code=204)

    return router
