"""A Dataverse emulator served in-process over local TLS, and the clients that reach it: plain
OData over httpx, and the official PowerPlatform-Dataverse-Client with a sandbox credential."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from azure.core.credentials import AccessToken

from consent_sync_sandbox.common import Emulator, ServerThread, make_tls
from consent_sync_sandbox.dynamics import build_dynamics

#: Contacts in a module's emulator unless the module sets `CONTACTS`.
SEEDED = 300
SEED = 7
API = "/api/data/v9.2"
ODATA_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}


@dataclass
class Sandbox:
    """A running emulator and how to reach it."""

    emulator: Emulator
    server: ServerThread
    ca_file: Path

    @property
    def base_url(self) -> str:
        """Where the emulator listens (the environment URL)."""
        return self.server.base_url

    @property
    def env(self) -> dict[str, str]:
        """The variables the emulator's credentials make (DYNAMICS_*)."""
        return self.emulator.client_env(self.base_url, self.ca_file)

    def ssl_context(self) -> ssl.SSLContext:
        """Trust for the emulator's certificate."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def token_response(self, **form: str) -> httpx.Response:
        """The token endpoint's answer to a client-credentials request (overrides in `form`)."""
        env = self.env
        data = {
            "grant_type": "client_credentials",
            "client_id": env["DYNAMICS_CLIENT_ID"],
            "client_secret": env["DYNAMICS_CLIENT_SECRET"],
            "scope": f"{self.base_url}/.default",
            **form,
        }
        return httpx.post(env["DYNAMICS_TOKEN_URL"], data=data, verify=self.ssl_context())

    def token(self) -> str:
        """A fresh access token."""
        response = self.token_response()
        response.raise_for_status()
        return str(response.json()["access_token"])

    def api(self, token: str | None = None, **headers: str) -> httpx.Client:
        """httpx against `/api/data/v9.2`, with a bearer token and the OData headers."""
        auth = {"Authorization": f"Bearer {token or self.token()}"}
        return httpx.Client(
            base_url=f"{self.base_url}{API}",
            verify=self.ssl_context(),
            headers={**ODATA_HEADERS, **auth, **headers},
            timeout=30,
        )

    def control(self) -> httpx.Client:
        """httpx for `/_sandbox/*`."""
        return httpx.Client(base_url=self.base_url, verify=self.ssl_context(), timeout=30)

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()


class SandboxCredential:
    """An azure-core `TokenCredential` that asks the sandbox's token endpoint (client credentials),
    as `ClientSecretCredential` would ask Entra ID."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.requests = 0

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.requests += 1
        response = self.sandbox.token_response(scope=" ".join(scopes))
        response.raise_for_status()
        body = response.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


def start_emulator(tmp: Path, contacts: int, **options: Any) -> Sandbox:
    """Seed `contacts` contacts (seed 7) and serve them over TLS with a fresh CA under `tmp`."""
    emulator = build_dynamics(contacts, seed=SEED, **options)
    tls = make_tls(tmp)
    server = ServerThread(emulator.app, tls).start()
    return Sandbox(emulator, server, tls.ca_pem)
