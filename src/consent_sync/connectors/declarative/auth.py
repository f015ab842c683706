"""How a declarative connector authenticates: a static credential on every request, or an OAuth
client-credentials token kept until it expires (docs/connectors.md, "auth")."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import httpx

from consent_sync.config.declarative import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuthClientCredentials,
)
from consent_sync.connectors.protocol import AuthError, TransientError
from consent_sync.connectors.retry import RetryPolicy, call_with_retry

#: A token is fetched again this long before the expiry its endpoint gave.
_EXPIRY_MARGIN = 60.0
#: Assumed lifetime of a token whose endpoint names none.
_DEFAULT_LIFETIME = 3600.0

AuthSpec = BearerAuth | ApiKeyAuth | BasicAuth | OAuthClientCredentials


class Credentials:
    """Puts a credential on each request; `renew` after a 401 (True if that may help)."""

    def __init__(
        self,
        spec: AuthSpec | None,
        *,
        system: str,
        client: httpx.Client,
        retry: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.system = system
        self._client = client
        self._retry = retry
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def secrets(self) -> list[str]:
        """Every secret value this connector holds (for scrubbing error text)."""
        spec = self.spec
        found: list[str] = []
        if isinstance(spec, BearerAuth):
            found.append(spec.token.get_secret_value())
        elif isinstance(spec, ApiKeyAuth):
            found.append(spec.key.get_secret_value())
        elif isinstance(spec, BasicAuth):
            found.append(spec.password.get_secret_value())
        elif isinstance(spec, OAuthClientCredentials):
            found.append(spec.client_secret.get_secret_value())
            if self._token:
                found.append(self._token)
        return [s for s in found if s]

    def apply(self, headers: MutableMapping[str, str], params: MutableMapping[str, Any]) -> None:
        """Add the credential to a request's headers or query."""
        spec = self.spec
        if spec is None:
            return
        if isinstance(spec, BearerAuth):
            headers["Authorization"] = f"Bearer {spec.token.get_secret_value()}"
        elif isinstance(spec, BasicAuth):
            pair = f"{spec.username}:{spec.password.get_secret_value()}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
        elif isinstance(spec, ApiKeyAuth):
            value = f"{spec.prefix}{spec.key.get_secret_value()}"
            if spec.header is not None:
                headers[spec.header] = value
            else:
                params[str(spec.query)] = value
        else:
            headers["Authorization"] = f"Bearer {self._current_token(spec)}"

    def renew(self) -> bool:
        """Drop a refused OAuth token so the next request fetches a fresh one; False for a
        static credential (sending it again cannot help)."""
        if not isinstance(self.spec, OAuthClientCredentials):
            return False
        with self._lock:
            self._token = None
        return True

    def _current_token(self, spec: OAuthClientCredentials) -> str:
        with self._lock:
            if self._token is not None and self._clock() < self._expires:
                return self._token
            token, lifetime = call_with_retry(lambda: self._fetch(spec), self._retry)
            self._token = token
            self._expires = self._clock() + max(0.0, lifetime - _EXPIRY_MARGIN)
            return token

    def _fetch(self, spec: OAuthClientCredentials) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": spec.client_id,
            "client_secret": spec.client_secret.get_secret_value(),
        }
        if spec.scope:
            form["scope"] = spec.scope
        try:
            response = self._client.post(spec.token_url, data=form)
        except httpx.TransportError as exc:
            raise TransientError(
                f"token request: {type(exc).__name__}", system=self.system
            ) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"token request: HTTP {status}", system=self.system, status=status)
        if status != 200:
            raise AuthError(
                f"token request refused: HTTP {status} {_oauth_error(response)}".rstrip(),
                system=self.system,
                status=status,
            )
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise TransientError(
                "token request: malformed response body", system=self.system
            ) from None
        if not isinstance(token, str) or not token:
            raise TransientError("token request: malformed response body", system=self.system)
        return token, _lifetime(body.get("expires_in"))


def _lifetime(value: object) -> float:
    """Seconds a token lives, as its endpoint says (a number, or digits as text)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return _DEFAULT_LIFETIME
    try:
        seconds = float(value)
    except ValueError:
        return _DEFAULT_LIFETIME
    return seconds if seconds == seconds and seconds > 0 else _DEFAULT_LIFETIME


def _oauth_error(response: httpx.Response) -> str:
    # RFC 6749's error code only: the description may echo what was sent.
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error)[:80] if isinstance(error, str) else ""
