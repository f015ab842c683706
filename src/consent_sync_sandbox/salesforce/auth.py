"""OAuth 2.0 token endpoint, session checks and the daily API request meter.

Grants: client_credentials, password, JWT bearer and refresh_token (what a connected app using
the web-server flow keeps). The org issues one refresh token at start (`client_env` exposes it as
SALESFORCE_REFRESH_TOKEN); with rotation on, each refresh answers a new one and retires the old.
A revoked or unknown refresh token is `invalid_grant` / `expired access/refresh token`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from consent_sync_sandbox.common import Faults
from consent_sync_sandbox.salesforce import jwt_bearer
from consent_sync_sandbox.salesforce.errors import SESSION_EXPIRED, OAuthError, SalesforceError

ORG_ID = "00DDn00000SandBX"
USER_ID = "005Dn00000IntgUS"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the emulated org accepts: a connected app and an integration user."""

    client_id: str = "3MVG9consent.sync.sandbox.client"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - a public sandbox credential
    username: str = "integration@consent-sync.sandbox"
    password: str = "sandbox-password"  # noqa: S105 - a public sandbox credential
    #: PEM certificate (or public key) of the connected app, for the JWT bearer grant.
    jwt_certificate: bytes | None = None
    #: The refresh token the org issues at start (None: a random one).
    refresh_token: str | None = None


REFRESH_GRANT = "refresh_token"
_EXPIRED_REFRESH = "expired access/refresh token"


@dataclass(frozen=True, slots=True)
class Issued:
    """A granted token request: the access token, and a new refresh token if one was issued."""

    access_token: str
    refresh_token: str | None = None


def _new_refresh_token() -> str:
    """Salesforce's refresh tokens start 5Aep861; the rest is random."""
    return "5Aep861" + secrets.token_urlsafe(60)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Sessions:
    """Issued access tokens; they expire after `ttl` seconds or when faults expire them all."""

    credentials: Credentials
    faults: Faults
    ttl: float
    rotate_refresh_tokens: bool = False
    _issued: dict[str, float] = field(default_factory=dict)
    _refresh: dict[str, set[str]] = field(default_factory=dict)  # refresh -> its access tokens
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.refresh_token = self.credentials.refresh_token or _new_refresh_token()
        self._refresh[self.refresh_token] = set()

    def grant(
        self, form: dict[str, str], basic_auth: tuple[str, str] | None, base_url: str = ""
    ) -> Issued:
        """Check a token request (client_credentials, password, JWT bearer or refresh_token).

        `base_url` is this server's URL: a JWT bearer assertion may name it as its audience.
        """
        grant_type = form.get("grant_type", "")
        if grant_type == jwt_bearer.GRANT_TYPE:
            self._check_assertion(form.get("assertion", ""), base_url)
            return Issued(self._issue())
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if basic_auth is not None:
            client_id, client_secret = basic_auth
        if grant_type not in ("client_credentials", "password", REFRESH_GRANT):
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        if not _same(client_id, self.credentials.client_id):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not _same(client_secret, self.credentials.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        if grant_type == REFRESH_GRANT:
            return self._refreshed(form.get("refresh_token", ""))
        if grant_type == "password" and not (
            _same(form.get("username", ""), self.credentials.username)
            and _same(form.get("password", ""), self.credentials.password)
        ):
            raise OAuthError("invalid_grant", "authentication failure")
        return Issued(self._issue())

    def _refreshed(self, refresh_token: str) -> Issued:
        with self._lock:
            live = next((t for t in self._refresh if _same(refresh_token, t)), None)
            if live is None:
                raise OAuthError("invalid_grant", _EXPIRED_REFRESH)
            if not self.rotate_refresh_tokens:
                access = self._issue()
                self._refresh[live].add(access)
                return Issued(access)
            issued = self._refresh.pop(live)  # rotation: the old token is spent
            rotated = _new_refresh_token()
            self._refresh[rotated] = issued
            access = self._issue()
            issued.add(access)
            return Issued(access, rotated)

    def revoke(self, token: str) -> bool:
        """`/services/oauth2/revoke`: a refresh token goes with its sessions; False if unknown."""
        with self._lock:
            live = next((t for t in self._refresh if _same(token, t)), None)
            if live is not None:
                for access in self._refresh.pop(live):
                    self._issued.pop(access, None)
                return True
            return self._issued.pop(token, None) is not None

    def _check_assertion(self, assertion: str, base_url: str) -> None:
        certificate = self.credentials.jwt_certificate
        jwt_bearer.verify_assertion(
            assertion,
            key=jwt_bearer.public_key(certificate) if certificate else None,
            client_id=self.credentials.client_id,
            username=self.credentials.username,
            audiences=(*jwt_bearer.AUDIENCES, base_url.rstrip("/")),
            now=time.time(),
        )

    def _issue(self) -> str:
        token = f"{ORG_ID}!{secrets.token_urlsafe(48)}"
        now = time.monotonic()
        with self._lock:
            for stale in [t for t, issued in self._issued.items() if now - issued > self.ttl]:
                del self._issued[stale]
            self._issued[token] = now
        return token

    def check(self, authorization: str | None) -> None:
        """Raise 401 INVALID_SESSION_ID unless the bearer token is live."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip() if scheme.lower() in ("bearer", "oauth") else ""
        with self._lock:
            issued = self._issued.get(token)
            if issued is not None and time.monotonic() - issued > self.ttl:
                del self._issued[token]
                issued = None
        # Faults can expire every token issued before they were set.
        expired = self.faults.config.expire_tokens and self.faults.changed_at >= (issued or 0)
        if issued is None or expired:
            raise SalesforceError(401, "INVALID_SESSION_ID", SESSION_EXPIRED)

    @staticmethod
    def signature(token_id: str, issued_at: str) -> str:
        """The `signature` field: HMAC-SHA256 of id + issued_at, base64 (as Salesforce does)."""
        digest = hmac.new(ORG_ID.encode(), (token_id + issued_at).encode(), hashlib.sha256)
        return base64.b64encode(digest.digest()).decode()


@dataclass
class ApiMeter:
    """Daily API requests used against the org's limit; enforced with 403 when exhausted."""

    daily_limit: int
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self) -> None:
        """Count one API request, or raise 403 REQUEST_LIMIT_EXCEEDED if none are left."""
        with self._lock:
            if self.used >= self.daily_limit:
                raise SalesforceError(
                    403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
                )
            self.used += 1

    def set(self, used: int | None = None, daily_limit: int | None = None) -> None:
        with self._lock:
            if used is not None:
                self.used = used
            if daily_limit is not None:
                self.daily_limit = daily_limit

    def header(self) -> str:
        """The `Sforce-Limit-Info` value."""
        with self._lock:
            return f"api-usage={self.used}/{self.daily_limit}"

    def remaining(self) -> int:
        with self._lock:
            return max(0, self.daily_limit - self.used)
