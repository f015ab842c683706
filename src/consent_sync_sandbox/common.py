"""What both CRM emulators share: request stats, fault injection, TLS serving."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import trustme
import uvicorn
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from starlette.routing import Match

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FaultKind = Literal["status", "timeout", "drop", "malformed"]


class FaultRule(BaseModel):
    """One injected failure: which requests it hits, how often, and what they get instead."""

    path: str = Field(".*", description="regex matched (search) against the request path")
    method: str | None = Field(None, description="HTTP method, or any")
    kind: FaultKind = "status"
    status: int = 503
    retry_after: str | None = Field(None, description="Retry-After header value for 429/503")
    body: dict[str, Any] | list[Any] | None = Field(None, description="JSON body or the default")
    rate: float = Field(1.0, ge=0.0, le=1.0, description="share of matching requests hit")
    times: int | None = Field(None, ge=0, description="stop after this many hits; None = forever")
    delay: float = Field(30.0, ge=0.0, description="stall seconds (timeout)")


class FaultConfig(BaseModel):
    """The whole fault state of one emulator, as set through `/_sandbox/faults`."""

    latency_ms: float = Field(0.0, ge=0.0, description="added to every API request")
    rules: list[FaultRule] = Field(default_factory=list)
    batch_failure_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="share of records in batch writes that fail"
    )
    batch_failure_ids: list[str] = Field(
        default_factory=list, description="record ids whose batch writes always fail"
    )
    expire_tokens: bool = Field(False, description="invalidate every token issued so far")
    seed: int = 0


@dataclass
class Faults:
    """Live fault state; thread-safe; the emulators consult it per request and per record."""

    config: FaultConfig = field(default_factory=FaultConfig)
    changed_at: float = field(default_factory=time.monotonic)  # when `set` last ran
    _hits: Counter[int] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=random.Random)

    def set(self, config: FaultConfig) -> None:
        """Replace the fault configuration and reset hit counters."""
        with self._lock:
            self.config = config
            self.changed_at = time.monotonic()
            self._hits.clear()
            self._rng = random.Random(config.seed)

    def clear(self) -> None:
        """Remove every fault."""
        self.set(FaultConfig())

    def match(self, method: str, path: str) -> FaultRule | None:
        """Return the rule that fires for this request, if any, counting the hit."""
        with self._lock:
            for index, rule in enumerate(self.config.rules):
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if not re.search(rule.path, path):
                    continue
                if rule.times is not None and self._hits[index] >= rule.times:
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                self._hits[index] += 1
                return rule
        return None

    def record_fails(self, record_id: str) -> bool:
        """Whether a batch write of this record should fail (per-record batch failures)."""
        with self._lock:
            if record_id in self.config.batch_failure_ids:
                return True
            rate = self.config.batch_failure_rate
            return rate > 0 and self._rng.random() < rate


@dataclass
class Stats:
    """Request counts per endpoint (route template) and status: the API-call meter."""

    _counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, endpoint: str, status: int) -> None:
        with self._lock:
            self._counts[(method, endpoint, status)] += 1

    def total(self, endpoint_prefix: str = "", method: str | None = None) -> int:
        """Requests so far whose route starts with `endpoint_prefix` (and method, if given)."""
        with self._lock:
            return sum(
                n
                for (m, e, _), n in self._counts.items()
                if e.startswith(endpoint_prefix) and (method is None or m == method)
            )

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready counts: {"total": N, "endpoints": {"GET /path": {"200": n, ...}}}."""
        with self._lock:
            endpoints: dict[str, dict[str, int]] = {}
            for (method, endpoint, status), n in sorted(self._counts.items()):
                endpoints.setdefault(f"{method} {endpoint}", {})[str(status)] = n
            return {"total": sum(self._counts.values()), "endpoints": endpoints}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


def _route_template(app: FastAPI, scope: Scope) -> str:
    path: str = scope["path"]
    return _match_template(app.router.routes, scope, "") or path


def _match_template(routes: list[Any], scope: Scope, prefix: str) -> str | None:
    # FastAPI >= 0.165 keeps included routers as wrappers (`original_router`, `include_context`)
    # instead of copying their routes, so descend into them to find the route template.
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            child_prefix = prefix + str(getattr(context, "prefix", "") or "")
            found = _match_template(inner.routes, scope, child_prefix)
            if found is not None:
                return found
            continue
        child_scope = scope
        if prefix:
            if not scope["path"].startswith(prefix):
                continue
            child_scope = {**scope, "path": scope["path"][len(prefix) :]}
        matched, _ = route.matches(child_scope)
        if matched == Match.FULL:
            return prefix + str(getattr(route, "path", child_scope["path"]))
    return None


class SandboxMiddleware:
    """ASGI middleware: counts every API request and applies latency and fault rules.

    `/_sandbox/*` control endpoints are neither counted nor faulted. `error_body` builds the
    emulator's own error body for an injected status
    (Salesforce and HubSpot shape them differently).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        fastapi_app: FastAPI,
        stats: Stats,
        faults: Faults,
        error_body: Callable[[int], Any],
    ) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.stats = stats
        self.faults = faults
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        endpoint = _route_template(self.fastapi_app, scope)
        status_seen = 0

        async def counting_send(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = int(message["status"])
            await send(message)

        try:
            latency = self.faults.config.latency_ms
            if latency:
                await asyncio.sleep(latency / 1000.0)
            rule = self.faults.match(method, scope["path"])
            if rule is None:
                await self.app(scope, receive, counting_send)
            else:
                await self._inject(rule, counting_send)
        finally:
            self.stats.record(method, endpoint, status_seen)

    async def _inject(self, rule: FaultRule, send: Send) -> None:
        if rule.kind == "timeout":
            await asyncio.sleep(rule.delay)
            await _send_json(send, 504, {"message": "sandbox: injected timeout"}, {})
        elif rule.kind == "drop":
            # Promise a body and close early: the client sees a connection cut mid-response.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"trunc', "more_body": False})
        elif rule.kind == "malformed":
            body = b'{"totalSize": 3, "done": true, "records": [{"attributes": '
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        else:
            headers = {"retry-after": rule.retry_after} if rule.retry_after else {}
            error = rule.body if rule.body is not None else self.error_body(rule.status)
            await _send_json(send, rule.status, error, headers)


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def control_router(stats: Stats, faults: Faults) -> APIRouter:
    """`/_sandbox/stats` and `/_sandbox/faults`: what the tests, demo and benchmark steer with."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    @router.get("/stats")
    def get_stats() -> dict[str, Any]:
        return stats.snapshot()

    @router.delete("/stats")
    def reset_stats() -> dict[str, Any]:
        stats.reset()
        return stats.snapshot()

    @router.get("/faults")
    def get_faults() -> FaultConfig:
        return faults.config

    @router.put("/faults")
    def put_faults(config: FaultConfig) -> FaultConfig:
        faults.set(config)
        return faults.config

    @router.delete("/faults")
    def clear_faults() -> FaultConfig:
        faults.clear()
        return faults.config

    return router


def install_sandbox(
    app: FastAPI, stats: Stats, faults: Faults, error_body: Callable[[int], Any]
) -> None:
    """Add the control endpoints and the stats/fault middleware to an emulator app."""
    app.include_router(control_router(stats, faults))
    app.add_middleware(
        SandboxMiddleware,
        fastapi_app=app,
        stats=stats,
        faults=faults,
        error_body=error_body,
    )


@dataclass(frozen=True)
class TLSFiles:
    """A local CA and a loopback server certificate, written to disk."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def write_private(path: Path, data: bytes) -> None:
    """Write `path` readable by its owner only (0600), whatever mode an older copy had."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def make_tls(state_dir: Path) -> TLSFiles:
    """Generate a fresh CA and a certificate for 127.0.0.1/localhost under `state_dir`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="consent-sync sandbox")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    files = TLSFiles(state_dir / "ca.pem", state_dir / "server.pem", state_dir / "server.key")
    ca.cert_pem.write_to_path(str(files.ca_pem))
    write_private(files.key_pem, cert.private_key_pem.bytes())
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    files.cert_pem.write_bytes(chain)
    return files


class ServerThread:
    """Runs an ASGI app under uvicorn with TLS in a background thread (tests, demo, bench)."""

    def __init__(self, app: Any, tls: TLSFiles, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            ssl_certfile=str(tls.cert_pem),
            ssl_keyfile=str(tls.key_pem),
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
            # Keep-alive TLS connections a client dropped can linger; never let them hold stop().
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self.host = host

    @property
    def port(self) -> int:
        sockets = self.server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server on {self.host} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        # Clients that keep idle connections open make uvicorn cancel them after the graceful
        # timeout and log that at ERROR: for a sandbox shutting down that is expected, not news.
        uvicorn_errors = logging.getLogger("uvicorn.error")
        level = uvicorn_errors.level
        uvicorn_errors.setLevel(logging.CRITICAL)
        try:
            self.server.should_exit = True
            self._thread.join(timeout=10)
        finally:
            uvicorn_errors.setLevel(level)


@dataclass
class Emulator:
    """One emulator ready to serve: its app, meters and how clients authenticate to it.

    `client_env(base_url, ca_file)` returns the environment variables the repository's
    `connectors/*.yaml` reference, e.g. {"SALESFORCE_LOGIN_URL": ..., "SALESFORCE_CLIENT_ID": ...}.
    """

    name: str
    app: FastAPI
    stats: Stats
    faults: Faults
    client_env: Callable[[str, Path], dict[str, str]]
    describe: str = ""  # one line for the console: what was seeded, how long it took
