"""Salesforce OAuth 2.0: the connector obtains its own token (client credentials, JWT, password)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from consent_sync.connectors.base import AuthError, TransientError

Grant = Literal["client_credentials", "jwt_bearer", "password"]


@dataclass(frozen=True, slots=True)
class SalesforceCredentials:
    """What the token endpoint needs; secrets never appear in repr."""

    login_url: str
    grant: Grant
    client_id: str
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    private_key_file: str | None = None

    def __repr__(self) -> str:
        return f"SalesforceCredentials(login_url={self.login_url!r}, grant={self.grant!r})"


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    instance_url: str

    def __repr__(self) -> str:
        return f"Token(instance_url={self.instance_url!r})"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_assertion(creds: SalesforceCredentials, now: float | None = None) -> str:
    """An RS256-signed JWT for the OAuth 2.0 JWT bearer flow (iss, sub, aud, exp)."""
    if not creds.private_key_file or not creds.username:
        raise AuthError("jwt_bearer needs username and private_key_file", system="salesforce")
    key = serialization.load_pem_private_key(Path(creds.private_key_file).read_bytes(), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError("jwt_bearer needs an RSA private key", system="salesforce")
    issued = int(now if now is not None else time.time())
    header = {"alg": "RS256"}
    claims = {
        "iss": creds.client_id,
        "sub": creds.username,
        "aud": creds.login_url.rstrip("/"),
        "exp": issued + 180,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _form(creds: SalesforceCredentials) -> dict[str, str]:
    if creds.grant == "client_credentials":
        return {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret or "",
        }
    if creds.grant == "password":
        return {
            "grant_type": "password",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret or "",
            "username": creds.username or "",
            "password": creds.password or "",
        }
    return {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": jwt_assertion(creds),
    }


def fetch_token(creds: SalesforceCredentials, *, ca_file: str | None, timeout: float) -> Token:
    """POST {login_url}/services/oauth2/token and return the access token and instance URL."""
    url = creds.login_url.rstrip("/") + "/services/oauth2/token"
    try:
        with httpx.Client(verify=ca_file or True, timeout=timeout) as client:
            response = client.post(url, data=_form(creds))
    except httpx.TransportError as exc:
        raise TransientError(
            f"token request failed: {type(exc).__name__}", system="salesforce"
        ) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(
            f"token endpoint answered {response.status_code}",
            system="salesforce",
            status=response.status_code,
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientError("token endpoint sent a malformed body", system="salesforce") from exc
    if response.status_code != 200 or "access_token" not in body:
        error = body.get("error", "unknown_error") if isinstance(body, dict) else "unknown_error"
        detail = body.get("error_description", "") if isinstance(body, dict) else ""
        raise AuthError(
            f"token refused ({creds.grant}): {error} {detail}".strip(),
            system="salesforce",
            status=response.status_code,
        )
    return Token(str(body["access_token"]), str(body["instance_url"]))
