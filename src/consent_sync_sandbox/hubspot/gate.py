"""The front door of every API request: the private-app token, then HubSpot's rate limits.

General requests share a rolling window per token (`TEN_SECONDLY_ROLLING`, 190 per 10 s by
default) and a daily quota (`DAILY`); CRM search requests have their own per-second limit
(`SECONDLY`, 5 per s). Non-search responses carry the `X-HubSpot-RateLimit-*` headers; search
responses do not, as on the real API.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from consent_sync_sandbox.common import ASGIApp, Faults, Message, Receive, Scope, Send
from consent_sync_sandbox.hubspot.errors import AUTH_MESSAGE, error_body
from consent_sync_sandbox.hubspot.props import APP_ID


class RateLimits(BaseModel):
    """The portal's limits; `PUT /_sandbox/limits` replaces them (the benchmark scales them)."""

    max_per_interval: int = Field(190, ge=1, description="requests per rolling interval")
    interval_ms: int = Field(10_000, ge=1)
    search_per_second: int = Field(5, ge=1)
    daily: int = Field(1_000_000, ge=1)


@dataclass
class _Window:
    """Request times inside one rolling window."""

    stamps: deque[float] = field(default_factory=deque)

    def take(self, now: float, span: float, limit: int) -> int | None:
        """Admit one request and return what remains, or None if the window is full."""
        while self.stamps and self.stamps[0] <= now - span:
            self.stamps.popleft()
        if len(self.stamps) >= limit:
            return None
        self.stamps.append(now)
        return limit - len(self.stamps)


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict for one request: the policy it broke (if any) and headers to send."""

    policy: str | None
    headers: tuple[tuple[bytes, bytes], ...]


class RateLimiter:
    """Thread-safe per-token counters for the three HubSpot policies."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._general: dict[str, _Window] = {}
        self._search: dict[str, _Window] = {}
        self._daily: dict[str, tuple[str, int]] = {}

    def set_limits(self, limits: RateLimits) -> None:
        """Replace the limits and forget all usage so far, daily included (a fresh start)."""
        with self._lock:
            self.limits = limits
            self._general.clear()
            self._search.clear()
            self._daily.clear()

    def admit(self, token: str, *, search: bool) -> Admission:
        limits = self.limits
        now = time.monotonic()
        today = datetime.now(tz=UTC).date().isoformat()
        with self._lock:
            day, used = self._daily.get(token, (today, 0))
            used = used if day == today else 0
            if used >= limits.daily:
                return Admission("DAILY", self._headers(limits, 0, 0))
            if search:
                window = self._search.setdefault(token, _Window())
                if window.take(now, 1.0, limits.search_per_second) is None:
                    return Admission("SECONDLY", ())
                self._daily[token] = (today, used + 1)
                return Admission(None, ())
            window = self._general.setdefault(token, _Window())
            remaining = window.take(now, limits.interval_ms / 1000.0, limits.max_per_interval)
            if remaining is None:
                return Admission(
                    "TEN_SECONDLY_ROLLING", self._headers(limits, 0, limits.daily - used)
                )
            self._daily[token] = (today, used + 1)
            return Admission(None, self._headers(limits, remaining, limits.daily - used - 1))

    @staticmethod
    def _headers(
        limits: RateLimits, remaining: int, daily_left: int
    ) -> tuple[tuple[bytes, bytes], ...]:
        pairs = (
            ("x-hubspot-ratelimit-max", limits.max_per_interval),
            ("x-hubspot-ratelimit-remaining", remaining),
            ("x-hubspot-ratelimit-interval-milliseconds", limits.interval_ms),
            ("x-hubspot-ratelimit-daily", limits.daily),
            ("x-hubspot-ratelimit-daily-remaining", max(0, daily_left)),
        )
        return tuple((k.encode(), str(v).encode()) for k, v in pairs)


_RATE_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


class HubSpotGate:
    """ASGI middleware: 401 without the right Bearer token, 429 over a limit, headers otherwise."""

    def __init__(self, app: ASGIApp, *, token: str, limiter: RateLimiter, faults: Faults) -> None:
        self.app = app
        self.token = token
        self.limiter = limiter
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope)
        if presented is None or not hmac.compare_digest(presented, self.token):
            await _respond(send, 401, error_body(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION"), ())
            return
        if self.faults.config.expire_tokens:
            body = error_body(
                401,
                "The OAuth token used to make this call expired 1 second(s) ago.",
                "EXPIRED_AUTHENTICATION",
            )
            await _respond(send, 401, body, ())
            return
        search = scope["method"] == "POST" and scope["path"].endswith("/search")
        admission = self.limiter.admit(presented, search=search)
        if admission.policy is not None:
            body = error_body(
                429,
                _RATE_MESSAGES[admission.policy],
                "RATE_LIMITS",
                errorType="RATE_LIMIT",
                policyName=admission.policy,
                groupName=f"publicapi:app-id:{APP_ID}",
            )
            await _respond(send, 429, body, admission.headers)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and admission.headers:
                message["headers"] = [*message.get("headers", []), *admission.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            return credential.strip() if scheme.lower() == "bearer" and credential else None
    return None


async def _respond(
    send: Send, status: int, body: dict[str, object], headers: tuple[tuple[bytes, bytes], ...]
) -> None:
    payload = json.dumps(body).encode()
    raw = [
        (b"content-type", b"application/json;charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
