"""A Mailchimp emulator served in-process over TLS, reached with the official client or httpx."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mailchimp_marketing

from consent_sync_sandbox.common import Emulator, ServerThread, make_tls
from consent_sync_sandbox.mailchimp import build_mailchimp

#: Members in a module's emulator unless the module sets `CONTACTS`.
SEEDED = 120
SEED = 7


@dataclass
class Sandbox:
    """A running Mailchimp emulator and how to reach it."""

    emulator: Emulator
    server: ServerThread
    ca_file: Path
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        """Where the emulator listens (the API is under `/3.0`)."""
        return self.server.base_url

    @property
    def list_id(self) -> str:
        return self.env["MAILCHIMP_LIST_ID"]

    def client(self, api_key: str | None = None) -> Any:
        """The official `mailchimp-marketing` client pointed at the sandbox, unmodified: its
        host is the API client's `host` attribute; the CA comes from REQUESTS_CA_BUNDLE (set by
        the `client` fixtures), as the client passes no `verify` of its own."""
        client = mailchimp_marketing.Client()
        client.set_config({"api_key": api_key or self.env["MAILCHIMP_API_KEY"], "server": "us21"})
        client.api_client.host = self.env["MAILCHIMP_BASE_URL"]
        return client

    def http(self, *, api_key: str | None = None) -> httpx.Client:
        """httpx with Basic auth (any user, the API key) for the API and `/_sandbox/*`."""
        return httpx.Client(
            base_url=self.base_url,
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            auth=("anystring", api_key or self.env["MAILCHIMP_API_KEY"]),
            timeout=30,
        )

    def act(self, **body: Any) -> dict[str, Any]:
        """A person acts (`POST /_sandbox/act`); the member as the emulator then holds it."""
        with self.http() as http:
            response = http.post("/_sandbox/act", json=body)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    def stop(self) -> None:
        self.server.stop()


def every_member(client: Any, list_id: str, **params: Any) -> list[dict[str, Any]]:
    """All members the listing returns for `params`, paged 1000 at a time with the client."""
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.lists.get_list_members_info(list_id, count=1000, offset=offset, **params)
        found += page["members"]
        offset += len(page["members"])
        if not page["members"] or offset >= page["total_items"]:
            return found


def start_emulator(tmp: Path, contacts: int, **options: Any) -> Sandbox:
    """Seed `contacts` members (seed 7) and serve them over TLS with a fresh CA under `tmp`."""
    emulator = build_mailchimp(contacts, seed=SEED, **options)
    tls = make_tls(tmp)
    server = ServerThread(emulator.app, tls).start()
    return Sandbox(emulator, server, tls.ca_pem, emulator.client_env(server.base_url, tls.ca_pem))
