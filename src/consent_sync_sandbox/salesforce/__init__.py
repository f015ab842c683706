"""Local emulator of the Salesforce REST API, as simple-salesforce and our connector use it.

`build_salesforce(...)` returns an `Emulator` to serve with `ServerThread` or the sandbox runner.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import FastAPI

from consent_sync_sandbox.common import Emulator, Faults, Stats, install_sandbox
from consent_sync_sandbox.salesforce.app import (
    LimitInfoMiddleware,
    api_router,
    install_error_handlers,
    oauth_router,
)
from consent_sync_sandbox.salesforce.auth import ApiMeter, Credentials, Sessions
from consent_sync_sandbox.salesforce.consent_acts import consent_control_router
from consent_sync_sandbox.salesforce.control import control_router
from consent_sync_sandbox.salesforce.errors import injected_error_body
from consent_sync_sandbox.salesforce.org import Org
from consent_sync_sandbox.salesforce.seeding import seed_org
from consent_sync_sandbox.salesforce.store import Store
from consent_sync_sandbox.seed import iter_people

__all__ = ["Credentials", "build_salesforce"]


def build_salesforce(
    contacts: int = 0,
    seed: int = 0,
    overlap: float = 0.8,
    *,
    token_ttl: float = 7200,
    daily_limit: int = 5_000_000,
    credentials: Credentials | None = None,
    cache_mb: int = 64,
    lead_share: float = 0.0,
    rotate_refresh_tokens: bool = False,
) -> Emulator:
    """Seed `contacts` Contacts deterministically and build the emulator app around them.

    `lead_share` of the people also exist as a Lead with the same email (docs/sandboxes.md);
    `rotate_refresh_tokens` makes each refresh-token grant answer a new refresh token.
    """
    credentials = credentials or Credentials()
    started = time.perf_counter()
    store = Store(cache_mb)
    people = iter_people("salesforce", contacts, seed, overlap)
    seed_org(store, people, contacts, seed=seed, lead_share=lead_share)
    seeded_in = time.perf_counter() - started
    earliest = store.clock.last - 30 * 24 * 3600 * 1000
    stats, faults = Stats(), Faults()
    meter = ApiMeter(daily_limit)
    sessions = Sessions(credentials, faults, token_ttl, rotate_refresh_tokens)
    org = Org(store, faults)

    app = FastAPI(title="consent-sync Salesforce sandbox", docs_url="/_sandbox/docs")
    install_error_handlers(app)
    app.include_router(oauth_router(sessions))
    app.include_router(api_router(org, sessions, meter, earliest))
    app.include_router(control_router(org, meter))
    app.include_router(consent_control_router(org))
    app.add_middleware(LimitInfoMiddleware, meter=meter)
    install_sandbox(app, stats, faults, injected_error_body)

    def client_env(base_url: str, ca_file: Path) -> dict[str, str]:
        return {
            "SALESFORCE_LOGIN_URL": base_url,
            "SALESFORCE_CLIENT_ID": credentials.client_id,
            "SALESFORCE_CLIENT_SECRET": credentials.client_secret,
            "SALESFORCE_USERNAME": credentials.username,
            "SALESFORCE_PASSWORD": credentials.password,
            "SALESFORCE_REFRESH_TOKEN": sessions.refresh_token,
            "SALESFORCE_CA_FILE": str(ca_file),
        }

    return Emulator(
        name="salesforce",
        app=app,
        stats=stats,
        faults=faults,
        client_env=client_env,
        describe=f"{store.seeded} contacts seeded in {seeded_in:.1f}s",
    )
