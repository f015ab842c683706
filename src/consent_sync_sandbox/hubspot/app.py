"""Assemble the HubSpot emulator: seeded store, routes, gate, webhooks, sandbox plumbing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from consent_sync_sandbox.common import Emulator, Faults, Stats, install_sandbox
from consent_sync_sandbox.hubspot.control import control_router
from consent_sync_sandbox.hubspot.crm import crm_router
from consent_sync_sandbox.hubspot.errors import error_body, install_error_handlers
from consent_sync_sandbox.hubspot.garble import Garbles
from consent_sync_sandbox.hubspot.gate import HubSpotGate, RateLimiter, RateLimits
from consent_sync_sandbox.hubspot.prefs import PortalSettings, prefs_router
from consent_sync_sandbox.hubspot.store import ContactStore
from consent_sync_sandbox.hubspot.webhooks import WebhookSender
from consent_sync_sandbox.seed import iter_people

DEFAULT_ACCESS_TOKEN = "pat-na1-11111111-2222-4333-8444-555555555555"  # noqa: S105 - sandbox only
DEFAULT_CLIENT_SECRET = "sandbox-client-secret-0000-1111"  # noqa: S105 - sandbox only


def build_hubspot(
    contacts: int = 0,
    seed: int = 0,
    overlap: float = 0.8,
    *,
    access_token: str = DEFAULT_ACCESS_TOKEN,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    rate_limit: int = 190,
    rate_interval_ms: int = 10_000,
    search_rate: int = 5,
    daily_limit: int = 1_000_000,
    gdpr: bool = True,
) -> Emulator:
    """A HubSpot emulator holding `contacts` seeded people, ready to serve with `ServerThread`.

    `rate_limit` requests per `rate_interval_ms` (rolling, per token), `search_rate` searches per
    second and `daily_limit` per day; `client_secret` signs outgoing webhooks by default. With
    `gdpr` (the portal's GDPR features; `PUT /_sandbox/portal` changes it) subscribing needs a
    legal basis and its explanation.
    """
    started = time.perf_counter()
    store = ContactStore()
    store.seed(iter_people("hubspot", contacts, seed, overlap), contacts)
    seconds = time.perf_counter() - started
    sender = WebhookSender()
    store.listeners.append(sender.enqueue)
    limiter = RateLimiter(
        RateLimits(
            max_per_interval=rate_limit,
            interval_ms=rate_interval_ms,
            search_per_second=search_rate,
            daily=daily_limit,
        )
    )
    stats, faults = Stats(), Faults()
    portal = PortalSettings(gdpr_enabled=gdpr)
    garbles = Garbles()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sender.close()
        store.close()

    app = FastAPI(title="HubSpot API (consent-sync sandbox)", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(crm_router(store, faults, garbles))
    app.include_router(prefs_router(store, portal, garbles))
    app.include_router(control_router(store, sender, limiter, portal, garbles))
    app.add_middleware(HubSpotGate, token=access_token, limiter=limiter, faults=faults)
    install_sandbox(app, stats, faults, error_body)

    def client_env(base_url: str, ca_file: Path) -> dict[str, str]:
        return {
            "HUBSPOT_BASE_URL": base_url,
            "HUBSPOT_ACCESS_TOKEN": access_token,
            "HUBSPOT_CLIENT_SECRET": client_secret,
            "HUBSPOT_CA_FILE": str(ca_file),
        }

    return Emulator(
        name="hubspot",
        app=app,
        stats=stats,
        faults=faults,
        client_env=client_env,
        describe=f"{contacts} contacts seeded in {seconds:.1f}s",
    )
