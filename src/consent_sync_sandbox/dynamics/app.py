"""Assemble the Dataverse emulator: seeded store, token endpoint, gate, routes, sandbox plumbing."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from consent_sync_sandbox.common import Emulator, Faults, Stats, install_sandbox
from consent_sync_sandbox.dynamics.auth import TENANT_ID, Credentials, TokenError, Tokens
from consent_sync_sandbox.dynamics.batch import batch_router
from consent_sync_sandbox.dynamics.control import control_router
from consent_sync_sandbox.dynamics.errors import error_body, install_error_handlers
from consent_sync_sandbox.dynamics.garble import Garbles
from consent_sync_sandbox.dynamics.gate import DataverseGate, ServiceLimits, ServiceProtection
from consent_sync_sandbox.dynamics.operations import ContactsApi
from consent_sync_sandbox.dynamics.query import ContactQueries
from consent_sync_sandbox.dynamics.routes import api_router, fallback_router
from consent_sync_sandbox.dynamics.seeding import seeded_rows
from consent_sync_sandbox.dynamics.store import ContactStore
from consent_sync_sandbox.seed import iter_people


def token_path(tenant: str = TENANT_ID) -> str:
    """Where the emulated Entra ID tenant issues tokens (on the emulator's own port)."""
    return f"/{tenant}/oauth2/v2.0/token"


def build_dynamics(
    contacts: int = 0,
    seed: int = 0,
    overlap: float = 0.8,
    *,
    credentials: Credentials | None = None,
    token_ttl: float = 3599.0,
    limits: ServiceLimits | None = None,
) -> Emulator:
    """A Dataverse emulator holding `contacts` seeded people, ready to serve with `ServerThread`.

    Tokens live `token_ttl` seconds; `limits` are the service protection limits per user.
    """
    started = time.perf_counter()
    store = ContactStore()
    store.seed(seeded_rows(iter_people("dynamics", contacts, seed, overlap), contacts))
    seconds = time.perf_counter() - started
    creds = credentials or Credentials()
    stats, faults = Stats(), Faults()
    tokens = Tokens(creds, faults, ttl=token_ttl)
    protection = ServiceProtection(limits)
    garbles = Garbles()
    queries = ContactQueries(store, garbles)
    api = ContactsApi(store, queries, faults)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="Dataverse Web API (consent-sync sandbox)", lifespan=lifespan)
    install_error_handlers(app)

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(request: Request, tenant: str) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        try:
            body = tokens.grant(tenant, form, _basic(request), str(request.base_url))
        except TokenError as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        return JSONResponse(body, headers={"Cache-Control": "no-store, no-cache"})

    app.include_router(batch_router(api, store))
    app.include_router(api_router(api))
    app.include_router(fallback_router())
    app.include_router(control_router(store, queries, protection, garbles))
    app.add_middleware(DataverseGate, tokens=tokens, protection=protection)
    install_sandbox(app, stats, faults, error_body)

    def client_env(base_url: str, ca_file: Path) -> dict[str, str]:
        return {
            "DYNAMICS_BASE_URL": base_url,
            "DYNAMICS_TOKEN_URL": f"{base_url}{token_path()}",
            "DYNAMICS_CLIENT_ID": creds.client_id,
            "DYNAMICS_CLIENT_SECRET": creds.client_secret,
            "DYNAMICS_CA_FILE": str(ca_file),
        }

    return Emulator(
        name="dynamics",
        app=app,
        stats=stats,
        faults=faults,
        client_env=client_env,
        describe=f"{contacts} contacts seeded in {seconds:.1f}s",
    )


def _basic(request: Request) -> tuple[str, str] | None:
    """client_secret_basic: the client id and secret in an HTTP Basic header, if sent."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password
