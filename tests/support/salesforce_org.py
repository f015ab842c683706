"""What the Salesforce connector tests share: the served org, its JWT key, control helpers."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from consent_sync.connectors.retry import RetryPolicy
from consent_sync.connectors.salesforce.auth import Grant, SalesforceCredentials
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from consent_sync_sandbox.common import Emulator, ServerThread, TLSFiles
from consent_sync_sandbox.salesforce import Credentials

SEEDED = 5200
FIELDS = ("Email", "HasOptedOutOfEmail", "DoNotCall", "HasOptedOutOfFax", "SMS_Consent__c")
#: Retries as in production, with waits short enough for tests.
FAST_RETRY = RetryPolicy(
    attempts=3, max_elapsed=20.0, initial_wait=0.01, max_wait=0.05, retry_after_ceiling=2.0
)


def write_rsa_key(path: Path) -> rsa.RSAPrivateKey:
    """A fresh RSA key, written as an unencrypted PEM file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    return key


def self_signed_certificate(key: rsa.RSAPrivateKey) -> bytes:
    """The certificate a connected app holds for JWT bearer: self-signed, PEM."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "consent-sync jwt")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class Org:
    """The running emulator: its URL, CA, credentials and control endpoints."""

    emulator: Emulator
    server: ServerThread
    tls: TLSFiles
    credentials: Credentials
    jwt_key_file: Path

    @property
    def base_url(self) -> str:
        """Where the org listens (login and instance URL alike)."""
        return self.server.base_url

    @property
    def ca_file(self) -> str:
        """The CA that signed the org's certificate."""
        return str(self.tls.ca_pem)

    @property
    def env(self) -> dict[str, str]:
        """The client environment the org's credentials make."""
        return self.emulator.client_env(self.base_url, self.tls.ca_pem)

    def control(self) -> httpx.Client:
        """An HTTP client for the org's API and `/_sandbox` endpoints."""
        return httpx.Client(
            base_url=self.base_url,
            verify=ssl.create_default_context(cafile=self.ca_file),
            timeout=30,
        )

    def login(self, grant: Grant = "client_credentials", **overrides: Any) -> SalesforceCredentials:
        """Credentials for `grant` that the org accepts, with any field overridden."""
        c = self.credentials
        fields: dict[str, Any] = {
            "login_url": self.base_url,
            "grant": grant,
            "client_id": c.client_id,
            "client_secret": None if grant == "jwt_bearer" else c.client_secret,
            "username": None if grant == "client_credentials" else c.username,
            "password": c.password if grant == "password" else None,
            "private_key_file": str(self.jwt_key_file) if grant == "jwt_bearer" else None,
        }
        fields.update(overrides)
        return SalesforceCredentials(**fields)


#: The `make_connector` fixture: a grant, credentials and settings to a connector.
MakeConnector = Callable[..., SalesforceConnector]


def requests_to(control: httpx.Client, endpoint: str) -> int:
    """How many requests the emulator counted for `METHOD /route/template` so far."""
    counts = control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
    return sum(counts.values())


def act(control: httpx.Client, **body: Any) -> list[str]:
    """A person acts in the Salesforce UI; returns the ids of the records touched."""
    response = control.post("/_sandbox/act", json=body)
    response.raise_for_status()
    return list(response.json()["ids"])


def seeded_ids(connector: SalesforceConnector, n: int, object_type: str = "Contact") -> list[str]:
    """Ids of `n` live records from the oldest page."""
    pages = connector.pull(object_type, None)
    first = next(pages)
    pages.close()
    return [r.record_id for r in first.records if not r.deleted][:n]
