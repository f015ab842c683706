"""A HubSpot emulator served in-process over TLS for the emulator's contract tests, reached with
the official client or httpx."""

from __future__ import annotations

import gc
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hubspot import HubSpot
from urllib3.util.retry import Retry

from consent_sync_sandbox.common import Emulator, ServerThread, make_tls
from consent_sync_sandbox.hubspot import build_hubspot

#: Contacts in a module's emulator unless the module sets `CONTACTS`.
SEEDED = 250


@dataclass
class Sandbox:
    """A running emulator and how to reach it."""

    emulator: Emulator
    server: ServerThread
    ca_file: Path
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        """Where the emulator listens."""
        return self.server.base_url

    def client(self, token: str | None = None) -> Any:
        """hubspot-api-client pointed at the sandbox, unmodified (SDK retries off)."""
        return HubSpot(
            access_token=token or self.env["HUBSPOT_ACCESS_TOKEN"],
            host=self.base_url,
            ssl_ca_cert=str(self.ca_file),
            retry=Retry(total=0, respect_retry_after_header=False, raise_on_status=False),
        )

    def http(self, **headers: str) -> httpx.Client:
        """httpx for what the client lacks (v4 statuses) and for `/_sandbox/*`."""
        auth = {"Authorization": f"Bearer {self.env['HUBSPOT_ACCESS_TOKEN']}"}
        return httpx.Client(
            base_url=self.base_url, verify=self.ssl_context(), headers={**auth, **headers}
        )

    def stop(self) -> None:
        """Stop serving. Each hubspot-api-client call builds its own connection pool inside
        reference cycles; collecting them first closes their sockets, so uvicorn's TLS shutdown
        does not wait on idle peers."""
        gc.collect()
        self.server.stop()

    def ssl_context(self) -> ssl.SSLContext:
        """Trust for the emulator's certificate."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def start_emulator(tmp: Path, contacts: int, **options: Any) -> Sandbox:
    """Seed `contacts` contacts (seed 7) and serve them over TLS with a fresh CA under `tmp`."""
    emulator = build_hubspot(contacts, seed=7, **options)
    tls = make_tls(tmp)
    server = ServerThread(emulator.app, tls).start()
    return Sandbox(emulator, server, tls.ca_pem, emulator.client_env(server.base_url, tls.ca_pem))
