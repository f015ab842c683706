"""The front door of every Web API request: the bearer token, then service protection limits.

Dataverse limits each user, per web server, over a 5-minute sliding window: 6,000 requests
(a `$batch` counts once) and 52 concurrent requests by default. Over a limit, a request gets
429 with `Retry-After` (seconds) and the documented error code; under it, responses carry
`x-ms-ratelimit-burst-remaining-xrm-requests`. `PUT /_sandbox/limits` changes the limits.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from consent_sync_sandbox.common import ASGIApp, Message, Receive, Scope, Send
from consent_sync_sandbox.dynamics.auth import AUTHORIZE_URI, Tokens, Unauthenticated
from consent_sync_sandbox.dynamics.errors import CONCURRENCY_LIMIT, REQUESTS_LIMIT, error_body

API_PREFIX = "/api/data/"


class ServiceLimits(BaseModel):
    """Service protection limits per user (the benchmark and tests scale them)."""

    requests_per_window: int = Field(6000, ge=1)
    window_seconds: float = Field(300.0, gt=0)
    concurrent_requests: int = Field(52, ge=1)


@dataclass
class _Usage:
    stamps: deque[float] = field(default_factory=deque)
    in_flight: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Admitted (with the burst remaining) or refused (with the error and Retry-After)."""

    remaining: int
    refused_code: str | None = None
    refused_message: str = ""
    retry_after: int = 0


class ServiceProtection:
    """Thread-safe per-user request counters over a sliding window, and in-flight counts."""

    def __init__(self, limits: ServiceLimits | None = None) -> None:
        self.limits = limits or ServiceLimits()
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {}

    def set_limits(self, limits: ServiceLimits) -> None:
        """Replace the limits and forget all usage so far."""
        with self._lock:
            self.limits = limits
            self._usage.clear()

    def enter(self, user: str) -> Verdict:
        """Admit one request for `user` (call `leave` when it is answered) or refuse it."""
        limits = self.limits
        now = time.monotonic()
        with self._lock:
            usage = self._usage.setdefault(user, _Usage())
            while usage.stamps and usage.stamps[0] <= now - limits.window_seconds:
                usage.stamps.popleft()
            if usage.in_flight >= limits.concurrent_requests:
                return Verdict(
                    0,
                    CONCURRENCY_LIMIT,
                    "Number of concurrent requests exceeded the limit of "
                    f"{limits.concurrent_requests}.",
                    1,
                )
            if len(usage.stamps) >= limits.requests_per_window:
                wait = usage.stamps[0] + limits.window_seconds - now
                return Verdict(
                    0,
                    REQUESTS_LIMIT,
                    f"Number of requests exceeded the limit of {limits.requests_per_window} "
                    f"over time window of {limits.window_seconds:g} seconds.",
                    max(1, math.ceil(wait)),
                )
            usage.stamps.append(now)
            usage.in_flight += 1
            return Verdict(limits.requests_per_window - len(usage.stamps))

    def leave(self, user: str) -> None:
        with self._lock:
            usage = self._usage.get(user)
            if usage is not None and usage.in_flight > 0:
                usage.in_flight -= 1


class DataverseGate:
    """ASGI middleware in front of `/api/data/...`: 401 without a live token, 429 over limits."""

    def __init__(self, app: ASGIApp, *, tokens: Tokens, protection: ServiceProtection) -> None:
        self.app = app
        self.tokens = tokens
        self.protection = protection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            user = self.tokens.check(_header(scope, b"authorization"))
        except Unauthenticated as exc:
            await _unauthorized(scope, send, exc)
            return
        verdict = self.protection.enter(user)
        if verdict.refused_code is not None:
            body = error_body(429, verdict.refused_code, verdict.refused_message)
            await _respond(send, 429, body, [(b"retry-after", str(verdict.retry_after).encode())])
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"odata-version", b"4.0"),
                    (
                        b"x-ms-ratelimit-burst-remaining-xrm-requests",
                        str(verdict.remaining).encode(),
                    ),
                ]
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        finally:
            self.protection.leave(user)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _unauthorized(scope: Scope, send: Send, exc: Unauthenticated) -> None:
    host = _header(scope, b"host") or "localhost"
    challenge = f"Bearer authorization_uri={AUTHORIZE_URI}, resource_id=https://{host}/"
    if exc.kind != "RequestIsNotAuthenticated":
        challenge = (
            f'Bearer error="invalid_token", error_description="{exc.detail}", ' + challenge[7:]
        )
    body = error_body(401, "", f"{exc.kind}: {exc.detail}")
    await _respond(send, 401, body, [(b"www-authenticate", challenge.encode())])


async def _respond(
    send: Send, status: int, body: dict[str, object], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    raw = [
        (b"content-type", b"application/json; odata.metadata=minimal"),
        (b"content-length", str(len(payload)).encode()),
        (b"odata-version", b"4.0"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
