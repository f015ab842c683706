"""The /api/v1 application: routes, bearer-token gate, body cap, JSON errors, OpenAPI.

`create_api` builds a FastAPI app of its own (its OpenAPI document at `/openapi.json` covers
exactly the API); `consent-sync run` mounts it under the daemon's HTTP app, after /healthz,
/readyz, /metrics and /webhooks, so those keep their own behaviour.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from consent_sync.api.auth import TokenGate
from consent_sync.api.context import ApiContext
from consent_sync.api.decisions import decisions_router
from consent_sync.api.errors import error_response, install_handlers
from consent_sync.api.operations import operations_router
from consent_sync.api.schemas import ErrorBody

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024  # a decision with its evidence is a few hundred bytes

_ERROR = {"model": ErrorBody}
#: Every route may answer these; the OpenAPI document says so.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_ERROR, "description": "The body is not JSON (or not UTF-8)"},
    401: {**_ERROR, "description": "No token, or not a live one"},
    403: {**_ERROR, "description": "The token's scope is too narrow"},
    404: {**_ERROR, "description": "Nothing with that id or email"},
    409: {**_ERROR, "description": "The conflict cannot be resolved (already resolved)"},
    413: {**_ERROR, "description": "The request body is over the cap"},
    422: {**_ERROR, "description": "The request is not valid or the rule refused it"},
    500: {**_ERROR, "description": "A bug; logged with its traceback"},
    503: {**_ERROR, "description": "The store is not answering"},
}


class BodyLimit:
    """Refuses (413, JSON) a request body over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_response(
            413, "body_too_large", f"the request body is over {self.limit} bytes"
        )
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _version() -> str:
    try:
        return version("consent-sync")
    except PackageNotFoundError:
        return "0"


def create_api(ctx: ApiContext, *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The /api/v1 app over `ctx`: every route behind a bearer token with a scope."""
    app = FastAPI(
        title="consent-sync API",
        version=_version(),
        description="Record consent decisions with evidence and review what the sync did.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect would name whatever host the request claimed
    )
    install_handlers(app)
    _document_purposes(app, sorted(ctx.purposes))
    app.include_router(decisions_router(ctx), responses=COMMON_ERRORS)
    app.include_router(operations_router(ctx), responses=COMMON_ERRORS)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    # Outermost: a request without a live token is refused before its body is read.
    app.add_middleware(
        TokenGate, authenticate=ctx.store.tokens.authenticate, prefixes=(API_PREFIX,)
    )
    return app


def _document_purposes(app: FastAPI, purposes: list[str]) -> None:
    """Name the deployment's purposes in the OpenAPI document (an enum of `purpose`); a purpose
    outside it is still answered 422 `unknown_purpose` by the route."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            field = document["components"]["schemas"]["ConsentIn"]["properties"]["purpose"]
            if purposes:
                field["enum"] = purposes
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def guard_metrics(app: FastAPI, ctx: ApiContext) -> None:
    """Make `/metrics` of the daemon's app require a live token (any scope)."""
    app.add_middleware(
        TokenGate, authenticate=ctx.store.tokens.authenticate, prefixes=("/metrics",)
    )
