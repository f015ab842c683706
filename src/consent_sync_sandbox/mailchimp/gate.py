"""The front door of every API request: the API key, then Mailchimp's connection limit.

Mailchimp takes the API key as the password of HTTP Basic auth (any user name), or as an OAuth
bearer token. Each key may hold a limited number of simultaneous connections (10); a request
over that answers 429 "Too Many Requests". The `/_sandbox/*` endpoints pass untouched.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from collections import Counter

from consent_sync_sandbox.common import ASGIApp, Receive, Scope, Send
from consent_sync_sandbox.mailchimp.audience import AudienceSettings
from consent_sync_sandbox.mailchimp.errors import PROBLEM_JSON, problem


class MailchimpGate:
    """ASGI middleware: 401 without the right key, 429 over the connection limit."""

    def __init__(self, app: ASGIApp, *, api_key: str, settings: AudienceSettings) -> None:
        self.app = app
        self.api_key = api_key
        self.settings = settings
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        presented = _api_key(scope)
        if presented is None:
            body = problem(401, "API Key Missing", "Your request did not include an API key.")
            await _respond(send, 401, body)
            return
        if not hmac.compare_digest(presented.encode(), self.api_key.encode()):
            await _respond(send, 401, problem(401))
            return
        limit = self.settings.max_connections
        with self._lock:
            admitted = self._in_flight[presented] < limit
            if admitted:
                self._in_flight[presented] += 1
        if not admitted:
            detail = f"You have exceeded the limit of {limit} simultaneous connections."
            await _respond(send, 429, problem(429, "Too Many Requests", detail))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._in_flight[presented] -= 1


def _api_key(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key != b"authorization":
            continue
        text: str = value.decode("latin-1")
        scheme, _, credential = text.partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential:
            return credential
        if scheme.lower() == "basic" and credential:
            try:
                decoded = base64.b64decode(credential, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            _, sep, password = decoded.partition(":")
            return password if sep and password else None
    return None


async def _respond(send: Send, status: int, body: dict[str, object]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
