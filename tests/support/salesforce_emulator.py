"""A Salesforce emulator served in-process over local TLS for the emulator's contract tests, and
the clients that reach it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import requests
from simple_salesforce import Salesforce

from consent_sync_sandbox.common import Emulator, ServerThread, TLSFiles, make_tls

SEEDED = 6000
VERSION = "59.0"


@dataclass
class Served:
    """One running emulator: where it listens and how to trust it."""

    emulator: Emulator
    server: ServerThread
    tls: TLSFiles
    sessions: list[requests.Session] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """Where the emulator listens."""
        return self.server.base_url

    @property
    def env(self) -> dict[str, str]:
        """The client environment the emulator's credentials make."""
        return self.emulator.client_env(self.base_url, self.tls.ca_pem)

    def ssl_context(self) -> ssl.SSLContext:
        """Trust for the emulator's certificate."""
        return ssl.create_default_context(cafile=str(self.tls.ca_pem))

    def token(self) -> str:
        """A fresh access token from the client-credentials grant."""
        env = self.env
        response = httpx.post(
            f"{self.base_url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": env["SALESFORCE_CLIENT_ID"],
                "client_secret": env["SALESFORCE_CLIENT_SECRET"],
            },
            verify=self.ssl_context(),
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def client(self) -> Salesforce:
        """simple-salesforce as the connector builds it: instance URL, token, CA-bundled session."""
        session = requests.Session()
        session.verify = str(self.tls.ca_pem)
        session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment beats `verify`
        self.sessions.append(session)
        return Salesforce(
            instance_url=self.base_url, session_id=self.token(), session=session, version=VERSION
        )

    def stop(self) -> None:
        """Close client connections first: shutdown would otherwise wait on keep-alives."""
        for session in self.sessions:
            session.close()
        self.server.stop()

    def control(self) -> httpx.Client:
        """An HTTP client for the emulator's API and `/_sandbox` endpoints."""
        return httpx.Client(base_url=self.base_url, verify=self.ssl_context(), timeout=30)


def serve(emulator: Emulator, state_dir: Path) -> Served:
    """Start `emulator` on a free loopback port with a fresh CA under `state_dir`."""
    tls = make_tls(state_dir)
    return Served(emulator, ServerThread(emulator.app, tls).start(), tls)
