"""Assemble the Mailchimp emulator: seeded audience, routes, gate, sandbox plumbing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from consent_sync_sandbox.common import Emulator, Faults, Stats, install_sandbox
from consent_sync_sandbox.mailchimp.audience import DEFAULT_LIST_ID, AudienceSettings
from consent_sync_sandbox.mailchimp.batch import batch_router
from consent_sync_sandbox.mailchimp.context import Audience
from consent_sync_sandbox.mailchimp.control import control_router
from consent_sync_sandbox.mailchimp.errors import error_body, install_error_handlers
from consent_sync_sandbox.mailchimp.garble import Garbles
from consent_sync_sandbox.mailchimp.gate import MailchimpGate
from consent_sync_sandbox.mailchimp.lists import lists_router
from consent_sync_sandbox.mailchimp.members import members_router
from consent_sync_sandbox.mailchimp.seeding import mailchimp_people
from consent_sync_sandbox.mailchimp.store import MemberStore

#: The sandbox account's API key; its `-us21` suffix names the data centre, as real keys do.
DEFAULT_API_KEY = "5a4db0c5e1f2a3b4c5d6e7f8a9b0c1d2-us21"


def build_mailchimp(
    contacts: int = 0,
    seed: int = 0,
    overlap: float = 0.8,
    *,
    api_key: str = DEFAULT_API_KEY,
    list_id: str = DEFAULT_LIST_ID,
    gdpr: bool = True,
    max_connections: int = 10,
) -> Emulator:
    """A Mailchimp emulator whose one audience holds `contacts` seeded members.

    `gdpr` gives the audience Mailchimp's three GDPR marketing permissions;
    `max_connections` is the simultaneous requests per key before 429 (`PUT
    /_sandbox/audience` changes both, and double opt-in).
    """
    started = time.perf_counter()
    store = MemberStore()
    store.seed(mailchimp_people(contacts, seed, overlap), contacts)
    seconds = time.perf_counter() - started
    stats, faults = Stats(), Faults()
    settings = AudienceSettings(gdpr=gdpr, max_connections=max_connections)
    audience = Audience(list_id, store, settings, Garbles(), faults)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="Mailchimp Marketing API (consent-sync sandbox)", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(lists_router(audience))
    app.include_router(members_router(audience))
    app.include_router(batch_router(audience))
    app.include_router(control_router(audience))
    app.add_middleware(MailchimpGate, api_key=api_key, settings=settings)
    install_sandbox(app, stats, faults, error_body)

    def client_env(base_url: str, ca_file: Path) -> dict[str, str]:
        return {
            "MAILCHIMP_BASE_URL": f"{base_url}/3.0",
            "MAILCHIMP_API_KEY": api_key,
            "MAILCHIMP_LIST_ID": list_id,
            "MAILCHIMP_CA_FILE": str(ca_file),
        }

    return Emulator(
        name="mailchimp",
        app=app,
        stats=stats,
        faults=faults,
        client_env=client_env,
        describe=f"{contacts} members seeded in {seconds:.1f}s",
    )
