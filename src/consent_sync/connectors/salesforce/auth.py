"""Salesforce OAuth 2.0: the connector obtains its own token (client credentials, JWT, password,
or a refresh token from the web-server flow)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from consent_sync.connectors.http import ssl_context
from consent_sync.connectors.protocol import AuthError, PermanentError, TransientError
from consent_sync.connectors.retry import parse_retry_after

Grant = Literal["client_credentials", "jwt_bearer", "password", "refresh_token"]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = 180  # seconds; Salesforce refuses assertions valid for longer than 3 minutes


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
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return f"SalesforceCredentials(login_url={self.login_url!r}, grant={self.grant!r})"


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    instance_url: str
    #: A new refresh token, when the org rotates them: the next refresh must use it.
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return f"Token(instance_url={self.instance_url!r})"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_audience(login_url: str) -> str:
    """The `aud` claim: Salesforce wants login/test.salesforce.com, not a My Domain URL.

    Sandboxes (`*.sandbox.my.salesforce.com`, `test.salesforce.com`) get the test audience;
    other salesforce.com hosts the login audience; any other host (an Experience Cloud site,
    the local emulator) is its own audience.
    """
    host = (urlsplit(login_url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    if host == "salesforce.com" or host.endswith(".salesforce.com"):
        return "https://login.salesforce.com"
    return login_url.rstrip("/")


def jwt_assertion(creds: SalesforceCredentials, now: float | None = None) -> str:
    """An RS256-signed JWT for the OAuth 2.0 JWT bearer flow (iss, sub, aud, exp)."""
    if not creds.private_key_file or not creds.username:
        raise AuthError("jwt_bearer needs username and private_key_file", system="salesforce")
    try:
        key = serialization.load_pem_private_key(Path(creds.private_key_file).read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise AuthError(
            f"cannot load the private key file {creds.private_key_file}: {type(exc).__name__}",
            system="salesforce",
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError("jwt_bearer needs an RSA private key", system="salesforce")
    issued = int(now if now is not None else time.time())
    header = {"alg": "RS256"}
    claims = {
        "iss": creds.client_id,
        "sub": creds.username,
        "aud": jwt_audience(creds.login_url),
        "exp": issued + JWT_LIFETIME,
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
    if creds.grant == "refresh_token":
        form = {
            "grant_type": "refresh_token",
            "client_id": creds.client_id,
            "refresh_token": creds.refresh_token or "",
        }
        if creds.client_secret:
            form["client_secret"] = creds.client_secret
        return form
    if creds.grant == "password":
        return {
            "grant_type": "password",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret or "",
            "username": creds.username or "",
            "password": creds.password or "",
        }
    return {"grant_type": JWT_BEARER, "assertion": jwt_assertion(creds)}


def fetch_token(
    creds: SalesforceCredentials, *, ca_file: str | None, timeout: float, system: str = "salesforce"
) -> Token:
    """POST {login_url}/services/oauth2/token and return the access token and instance URL.

    Refusals raise `AuthError` (the OAuth error and its description, never a secret);
    transport failures, 429, 5xx and unreadable 200 answers raise `TransientError`.
    """
    url = creds.login_url.rstrip("/") + "/services/oauth2/token"
    form = _form(creds)
    try:
        # trust_env=False: SSL_CERT_FILE and proxy variables must not override the settings.
        with httpx.Client(verify=ssl_context(ca_file), timeout=timeout, trust_env=False) as client:
            response = client.post(url, data=form)
    except httpx.TransportError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise PermanentError(
                "token endpoint certificate is not trusted (check ca_file)", system=system
            ) from exc
        raise TransientError(f"token request failed: {type(exc).__name__}", system=system) from exc
    status = response.status_code
    if status >= 500 or status == 429:
        raise TransientError(
            f"token endpoint answered {status}",
            system=system,
            status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC)),
        )
    body = _json_object(response)
    if status == 200:
        token, instance_url = body.get("access_token"), body.get("instance_url")
        if isinstance(token, str) and token and isinstance(instance_url, str) and instance_url:
            rotated = body.get("refresh_token")
            fresh = rotated if isinstance(rotated, str) and rotated else None
            return Token(token, instance_url, fresh)
        raise TransientError("token endpoint sent an unreadable answer", system=system, status=200)
    error = str(body.get("error") or f"HTTP {status}")
    detail = str(body.get("error_description") or "")
    raise AuthError(
        f"token refused ({creds.grant}): {error} {detail}".strip(), system=system, status=status
    )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is not one (an HTML error page, a cut body)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
