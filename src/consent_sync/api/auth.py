"""Bearer tokens for /api/v1: who is calling (401 unless a live token) and may they (403).

`TokenGate` is ASGI middleware: every request under a guarded prefix must carry
`Authorization: Bearer <token>` naming a live token, checked before the route (and its body)
is looked at, so a route added later cannot be left open by forgetting a dependency. Each route
then states the scope it needs with `Depends(require(Scope.X))`, which is also what puts the
bearer scheme on the route in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from consent_sync.api.errors import ApiError, error_response
from consent_sync.store.tokens import Scope, TokenInfo

#: Looks a presented token up (the store's `tokens.authenticate`): blocking, so run in a thread.
Authenticate = Callable[[str], TokenInfo | None]
STATE_KEY = "api_token"

_bearer = HTTPBearer(auto_error=False, description="A token from `consent-sync token create`.")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


class TokenGate:
    """Refuses (401, JSON) every request under `prefixes` without a live token."""

    def __init__(self, app: ASGIApp, authenticate: Authenticate, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.authenticate = authenticate
        self.prefixes = prefixes

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not any(_under(path, p) for p in self.prefixes):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        raw = headers.get(b"authorization", b"").decode("latin-1")
        token = bearer_token(raw)
        try:
            found = await anyio.to_thread.run_sync(self.authenticate, token) if token else None
        except SQLAlchemyError:
            response = error_response(503, "database_unavailable", "the store is not answering")
            await response(scope, receive, send)
            return
        if found is None:
            what = "a valid bearer token is required" if token else "a bearer token is required"
            await error_response(401, "unauthorized", what)(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = found
        await self.app(scope, receive, send)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def require(needed: Scope) -> Callable[..., TokenInfo]:
    """A dependency: the caller's token, if its scope covers `needed`; else 403."""

    def check(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenInfo:
        token = getattr(request.state, STATE_KEY, None)
        if not isinstance(token, TokenInfo):
            raise ApiError(401, "unauthorized", "a bearer token is required")
        if not token.scope.covers(needed):
            raise ApiError(
                403,
                "forbidden",
                f"this route needs scope {needed.value}; the token has {token.scope.value}",
            )
        return token

    return check
