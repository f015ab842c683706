"""Outgoing webhooks: contact changes batched, signed (v1 and v3) and POSTed from a thread.

Delivery follows HubSpot's documented rules: at most `max_batch` (100) events per request; a
failed request — connection error, timeout, or any status other than 2xx and 400/401/403/404/405
— is retried up to `max_attempts` (10) times in all, with exponential backoff on the attempt number
(2, 4, 8 … minutes by default; `retry_base_seconds` scales it down for tests) and `Retry-After`
honoured on 429. `attemptNumber` in each event counts from 0.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import random
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, Field

from consent_sync_sandbox.hubspot.props import APP_ID, PORTAL_ID
from consent_sync_sandbox.hubspot.records import ContactChange

SUBSCRIPTION_IDS = {
    "contact.creation": 4_000_001,
    "contact.propertyChange": 4_000_002,
    "contact.deletion": 4_000_003,
}
#: `sourceId` as HubSpot fills it: the acting user for UI edits, the app for API writes.
_SOURCE_IDS = {"CRM_UI": "userId:1000001", "API": str(APP_ID)}
#: Statuses after which HubSpot gives a notification up instead of retrying.
_FINAL_STATUSES = frozenset({400, 401, 403, 404, 405})


class WebhookConfig(BaseModel):
    """`PUT /_sandbox/webhooks` body: where to send, how to sign, how hard to retry."""

    target_url: str
    client_secret: str
    max_batch: int = Field(100, ge=1, le=100)
    max_attempts: int = Field(10, ge=1, le=10)
    retry_base_seconds: float = Field(120.0, ge=0.0, description="first retry delay; doubles")
    retry_max_seconds: float = Field(6 * 3600.0, ge=0.0)
    timeout_seconds: float = Field(5.0, gt=0.0)
    flush_seconds: float = Field(0.05, ge=0.0, description="how long events gather into a batch")
    ca_file: str | None = Field(None, description="CA bundle for an https target_url")
    subscription_types: list[str] = Field(default_factory=lambda: list(SUBSCRIPTION_IDS))
    properties: list[str] | None = Field(None, description="propertyChange only for these")


def sign_v3(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """`X-HubSpot-Signature-v3`: base64 HMAC-SHA256 of method + uri + body + timestamp."""
    digest = hmac.new(
        secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    events: list[dict[str, Any]] = field(compare=False)
    attempt: int = field(default=0, compare=False)


@dataclass
class DeliveryStats:
    """What the sender has done so far (`GET /_sandbox/webhooks`)."""

    requests: int = 0
    delivered_events: int = 0
    failed_requests: int = 0
    dropped_events: int = 0
    last_error: str | None = None


class WebhookSender:
    """Background sender; `enqueue` never blocks on the network, so the API never waits on it."""

    def __init__(self) -> None:
        self._config: WebhookConfig | None = None
        self._cond = threading.Condition()
        self._incoming: list[dict[str, Any]] = []
        self._first_at = 0.0
        self._scheduled: list[_Delivery] = []
        self._event_ids = itertools.count(1)
        self._seq = itertools.count()
        self._stop = False
        self._rng = random.Random(0)
        self.stats = DeliveryStats()
        self._http: tuple[WebhookConfig, httpx.Client] | None = None  # sender thread only
        self._thread = threading.Thread(target=self._run, name="hubspot-webhooks", daemon=True)
        self._thread.start()

    @property
    def config(self) -> WebhookConfig | None:
        return self._config

    def configure(self, config: WebhookConfig | None) -> None:
        """Start sending to a target (or stop, with None); queued deliveries are dropped."""
        with self._cond:
            self._config = config
            self._incoming.clear()
            self._scheduled.clear()
            self.stats = DeliveryStats()
            self._cond.notify()

    def enqueue(self, changes: list[ContactChange]) -> None:
        """Turn store changes into events for the configured subscriptions (a store listener)."""
        with self._cond:
            config = self._config
            if config is None:
                return
            events = [
                self._event(change)
                for change in changes
                if change.kind in config.subscription_types
                and (
                    change.kind != "contact.propertyChange"
                    or config.properties is None
                    or change.property_name in config.properties
                )
            ]
            if events:
                if not self._incoming:
                    self._first_at = time.monotonic()
                self._incoming += events
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _event(self, change: ContactChange) -> dict[str, Any]:
        event: dict[str, Any] = {
            "eventId": next(self._event_ids),
            "subscriptionId": SUBSCRIPTION_IDS[change.kind],
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "occurredAt": change.occurred_ms,
            "subscriptionType": change.kind,
            "attemptNumber": 0,
            "objectId": change.object_id,
            "changeSource": change.source,
        }
        source_id = _SOURCE_IDS.get(change.source)
        if source_id is not None:
            event["sourceId"] = source_id
        if change.kind == "contact.propertyChange":
            event["propertyName"] = change.property_name
            event["propertyValue"] = change.property_value or ""
        return event

    def _run(self) -> None:
        while True:
            with self._cond:
                ready = self._next_ready()
                while ready is None and not self._stop:
                    self._cond.wait(timeout=self._wait_seconds())
                    ready = self._next_ready()
                if self._stop:
                    if self._http is not None:
                        self._http[1].close()
                    return
                config = self._config
            if config is not None and ready is not None:
                self._attempt(config, ready)

    def _wait_seconds(self) -> float | None:
        """How long until something is due (lock held); None = until notified."""
        config = self._config
        waits: list[float] = []
        now = time.monotonic()
        if self._incoming and config is not None:
            waits.append(self._first_at + config.flush_seconds - now)
        if self._scheduled:
            waits.append(self._scheduled[0].due - now)
        return max(0.0, min(waits)) if waits else None

    def _next_ready(self) -> _Delivery | None:
        """Move gathered events into batches, then pop the first due delivery (lock held)."""
        config = self._config
        now = time.monotonic()
        if config is not None and self._incoming:
            full = len(self._incoming) >= config.max_batch
            if full or now >= self._first_at + config.flush_seconds:
                for start in range(0, len(self._incoming), config.max_batch):
                    batch = self._incoming[start : start + config.max_batch]
                    heapq.heappush(self._scheduled, _Delivery(now, next(self._seq), batch))
                self._incoming = []
        if self._scheduled and self._scheduled[0].due <= now:
            return heapq.heappop(self._scheduled)
        return None

    def _attempt(self, config: WebhookConfig, delivery: _Delivery) -> None:
        events = [{**event, "attemptNumber": delivery.attempt} for event in delivery.events]
        body = json.dumps(events, separators=(",", ":"))
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
            "X-HubSpot-Signature": hashlib.sha256(
                f"{config.client_secret}{body}".encode()
            ).hexdigest(),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature-v3": sign_v3(
                config.client_secret, "POST", config.target_url, body, timestamp
            ),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        retry_after: float | None = None
        error: str | None = None
        try:
            response = self._client(config).post(config.target_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                with self._cond:
                    self.stats.requests += 1
                    self.stats.delivered_events += len(events)
                return
            error = f"HTTP {response.status_code}"
            if response.status_code in _FINAL_STATUSES:
                self._give_up(delivery, error)
                return
            if response.status_code == 429:
                retry_after = _seconds(response.headers.get("retry-after"))
        self._retry(config, delivery, error, retry_after)

    def _client(self, config: WebhookConfig) -> httpx.Client:
        """The sender thread's HTTP client for this configuration (kept alive between batches)."""
        if self._http is None or self._http[0] is not config:
            if self._http is not None:
                self._http[1].close()
            verify = ssl.create_default_context(cafile=config.ca_file) if config.ca_file else True
            self._http = (config, httpx.Client(timeout=config.timeout_seconds, verify=verify))
        return self._http[1]

    def _retry(
        self, config: WebhookConfig, delivery: _Delivery, error: str, retry_after: float | None
    ) -> None:
        if delivery.attempt + 1 >= config.max_attempts:
            self._give_up(delivery, error)
            return
        backoff = config.retry_base_seconds * (2**delivery.attempt)
        delay = retry_after if retry_after is not None else backoff * self._rng.uniform(0.9, 1.1)
        delay = min(delay, config.retry_max_seconds)
        with self._cond:
            self.stats.requests += 1
            self.stats.failed_requests += 1
            self.stats.last_error = error
            if self._config is config:
                due = time.monotonic() + delay
                retried = _Delivery(due, next(self._seq), delivery.events, delivery.attempt + 1)
                heapq.heappush(self._scheduled, retried)

    def _give_up(self, delivery: _Delivery, error: str) -> None:
        with self._cond:
            self.stats.requests += 1
            self.stats.failed_requests += 1
            self.stats.dropped_events += len(delivery.events)
            self.stats.last_error = error

    def snapshot(self) -> dict[str, Any]:
        """Configuration (without the secret) and delivery counters."""
        with self._cond:
            config = self._config
            return {
                "configured": config is not None,
                "target_url": config.target_url if config else None,
                "pending_events": len(self._incoming) + sum(len(d.events) for d in self._scheduled),
                "requests": self.stats.requests,
                "delivered_events": self.stats.delivered_events,
                "failed_requests": self.stats.failed_requests,
                "dropped_events": self.stats.dropped_events,
                "last_error": self.stats.last_error,
            }


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
