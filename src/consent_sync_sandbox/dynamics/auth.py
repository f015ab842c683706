"""OAuth 2.0 client credentials as Microsoft Entra ID answers them, and the tokens it issued.

`POST /{tenant}/oauth2/v2.0/token` takes `grant_type=client_credentials`, `client_id`,
`client_secret` (or HTTP Basic) and `scope=<environment URL>/.default`, and answers
`{"token_type": "Bearer", "expires_in": ..., "access_token": ...}`. Errors carry Entra's
`error`, `error_description` (with its AADSTS code), `error_codes`, `trace_id`, ...
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consent_sync_sandbox.common import Faults

TENANT_ID = "5f8b2c1e-3a4d-4e6f-9b7a-0c1d2e3f4a5b"
#: Where a 401 tells a client to sign in (what Dataverse names in `WWW-Authenticate`).
AUTHORIZE_URI = f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/authorize"


@dataclass(frozen=True, slots=True)
class Credentials:
    """The app registration the emulated tenant knows."""

    client_id: str = "0c1f5e7a-8b2d-4c3e-9f4a-5b6c7d8e9f01"
    client_secret: str = "sandbox~dynamics.client-secret_0000"  # noqa: S105 - sandbox only


class TokenError(Exception):
    """A token request Entra ID refuses: its HTTP status and its error body."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = _entra_error(error, code, description)


def _entra_error(error: str, code: int, description: str) -> dict[str, Any]:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {now}"
        ),
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


class Unauthenticated(Exception):
    """A Web API request without a live token: the documented 401 error type, and why."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Tokens:
    """Issued access tokens; they expire after `ttl` seconds or when faults expire them all."""

    credentials: Credentials
    faults: Faults
    ttl: float = 3599.0
    _issued: dict[str, tuple[float, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def grant(
        self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None, resource: str
    ) -> dict[str, Any]:
        """Check a client-credentials request for `resource` (this server's URL); a token."""
        if tenant not in (TENANT_ID, "organizations"):
            raise TokenError(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        grant_type = form.get("grant_type", "")
        if grant_type != "client_credentials":
            raise TokenError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        client_id, secret = (
            basic if basic else (form.get("client_id", ""), form.get("client_secret", ""))
        )
        if not _same(client_id, self.credentials.client_id):
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'.",
            )
        if not secret:
            raise TokenError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        if not _same(secret, self.credentials.client_secret):
            raise TokenError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        self._check_scope(form.get("scope", ""), resource, tenant)
        return self._issue(client_id)

    @staticmethod
    def _check_scope(scope: str, resource: str, tenant: str) -> None:
        if not scope:
            raise TokenError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        if not scope.endswith("/.default") or " " in scope.strip():
            raise TokenError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        named = scope.removesuffix("/.default").rstrip("/").lower()
        if named != resource.rstrip("/").lower():
            raise TokenError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {named} was not found in the tenant named {tenant}.",
            )

    def _issue(self, client_id: str) -> dict[str, Any]:
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(48)
        now = time.monotonic()
        with self._lock:
            for stale in [t for t, (at, _) in self._issued.items() if now - at > self.ttl]:
                del self._issued[stale]
            self._issued[token] = (now, client_id)
        lifetime = int(self.ttl)
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    def check(self, authorization: str | None) -> str:
        """The client id behind a live `Bearer` token; else `Unauthenticated`."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "RequestIsNotAuthenticated", "The request carries no bearer access token."
            )
        with self._lock:
            issued = self._issued.get(token)
        if issued is None:
            raise Unauthenticated("InvalidAuthTicket", "The access token is not valid.")
        at, client_id = issued
        expired = time.monotonic() - at > self.ttl
        # Faults can expire every token issued before they were set.
        if expired or (self.faults.config.expire_tokens and self.faults.changed_at >= at):
            raise Unauthenticated("ExpiredAuthTicket", "The access token has expired.")
        return client_id
