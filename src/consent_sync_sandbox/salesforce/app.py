"""The REST routes: OAuth token, versions, query, sObjects, composite, collections, limits."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from consent_sync_sandbox.common import ASGIApp, Message, Receive, Scope, Send
from consent_sync_sandbox.salesforce.auth import (
    ORG_ID,
    REFRESH_GRANT,
    USER_ID,
    ApiMeter,
    Sessions,
)
from consent_sync_sandbox.salesforce.bulk2 import add_bulk2_routes
from consent_sync_sandbox.salesforce.composite import run_composite
from consent_sync_sandbox.salesforce.consent_api import add_consent_routes
from consent_sync_sandbox.salesforce.describe import describe_sobject, sobject_summary
from consent_sync_sandbox.salesforce.errors import OAuthError, RecordRejected, SalesforceError
from consent_sync_sandbox.salesforce.objects import SOBJECTS
from consent_sync_sandbox.salesforce.org import DEFAULT_BATCH, Org, not_found, require_sobject
from consent_sync_sandbox.salesforce.schema import API_VERSIONS, RELEASES, RETIRED_VERSIONS, to_ms
from consent_sync_sandbox.salesforce.sobject_collections import (
    create_collection,
    delete_collection,
    update_collection,
)

JSON_TYPE = "application/json;charset=UTF-8"
Payload = Annotated[Any, Body()]


def json_response(body: Any, status: int = 200) -> Response:
    """JSON as Salesforce sends it (stdlib encoder: large query pages stay cheap)."""
    return Response(json.dumps(body, ensure_ascii=False), status, media_type=JSON_TYPE)


class LimitInfoMiddleware:
    """Adds `Sforce-Limit-Info: api-usage=N/M` to every versioned API response."""

    def __init__(self, app: ASGIApp, meter: ApiMeter) -> None:
        self.app = app
        self.meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/services/data/v"):
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"sforce-limit-info", self.meter.header().encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_header)


def _batch_size(header: str | None) -> int:
    """`Sforce-Query-Options: batchSize=N`, clamped to Salesforce's 200..2000."""
    for option in (header or "").split(","):
        name, _, value = option.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return min(DEFAULT_BATCH, max(200, int(value.strip())))
    return DEFAULT_BATCH


def _replication_time(raw: str | None, name: str) -> int:
    """A start/end parameter of /updated/ and /deleted/ (ISO 8601; a raw '+' may arrive as ' ')."""
    try:
        if raw is None:
            raise ValueError(name)
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+").replace("Z", "+00:00"))
    except ValueError as exc:
        raise SalesforceError(
            400, "INVALID_REPLICATION_DATE", f"Unable to parse the {name} date: {raw}"
        ) from exc
    return to_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _route(router: APIRouter, method: str, path: str, endpoint: Callable[..., Any]) -> None:
    """Register `path` with and without a trailing slash (clients use both, never redirect)."""
    router.add_api_route(path, endpoint, methods=[method])
    router.add_api_route(path + "/", endpoint, methods=[method], include_in_schema=False)


def api_router(org: Org, sessions: Sessions, meter: ApiMeter, earliest_ms: int) -> APIRouter:
    """Routes under /services/data/vXX.X: version check, session check, quota, then work."""

    def guard(request: Request, version: str) -> None:
        if version in RETIRED_VERSIONS:
            raise SalesforceError(410, "NOT_FOUND", not_found().message)  # retired: 410 GONE
        if version not in API_VERSIONS:
            raise not_found()
        sessions.check(request.headers.get("authorization"))
        meter.charge()

    router = APIRouter(prefix="/services/data/v{version}", dependencies=[Depends(guard)])

    def resources(version: str) -> Response:
        names = ("sobjects", "query", "queryAll", "limits", "composite", "consent", "jobs")
        return json_response({n: f"/services/data/v{version}/{n}" for n in names})

    def limits() -> Response:
        daily = {"Max": meter.daily_limit, "Remaining": meter.remaining()}
        return json_response({"DailyApiRequests": daily})

    def run_query(request: Request, version: str, q: str | None = None) -> Response:
        return _query(request, version, q, include_deleted=False)

    def run_query_all(request: Request, version: str, q: str | None = None) -> Response:
        return _query(request, version, q, include_deleted=True)

    def _query(request: Request, version: str, q: str | None, *, include_deleted: bool) -> Response:
        if not q:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
        batch = _batch_size(request.headers.get("sforce-query-options"))
        return json_response(
            org.query(q, include_deleted=include_deleted, batch=batch, version=version)
        )

    def query_more(version: str, cursor: str) -> Response:
        return json_response(org.query_more(cursor, version))

    def describe_global(version: str) -> Response:
        sobjects = [sobject_summary(spec, version) for spec in SOBJECTS.values()]
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})

    def sobject_info(version: str, name: str) -> Response:
        spec = require_sobject(name)
        return json_response({"objectDescribe": sobject_summary(spec, version), "recentItems": []})

    def describe(version: str, name: str) -> Response:
        return json_response(describe_sobject(require_sobject(name), version))

    def updated(name: str, start: str | None = None, end: str | None = None) -> Response:
        first, last = _replication_time(start, "start"), _replication_time(end, "end")
        now = int(time.time() * 1000)
        return json_response(org.updated(require_sobject(name), first, last, now))

    def deleted(name: str, start: str | None = None, end: str | None = None) -> Response:
        first, last = _replication_time(start, "start"), _replication_time(end, "end")
        now = int(time.time() * 1000)
        return json_response(org.deleted(require_sobject(name), first, last, now, earliest_ms))

    def create(name: str, payload: Payload = None) -> Response:
        return json_response(org.create(require_sobject(name), payload), 201)

    def read(version: str, name: str, record_id: str, fields: str | None = None) -> Response:
        return json_response(org.read(require_sobject(name), record_id, fields, version))

    def update(name: str, record_id: str, payload: Payload = None) -> Response:
        org.update(require_sobject(name), record_id, payload)
        return Response(status_code=204)

    def delete(name: str, record_id: str) -> Response:
        org.delete(require_sobject(name), record_id)
        return Response(status_code=204)

    def composite(payload: Payload = None) -> Response:
        return json_response(run_composite(org, payload))

    def create_records(payload: Payload = None) -> Response:
        return json_response(create_collection(org, payload))

    def update_records(payload: Payload = None) -> Response:
        return json_response(update_collection(org, payload))

    def delete_records(
        ids: str | None = None, all_or_none: Annotated[str | None, Query(alias="allOrNone")] = None
    ) -> Response:
        return json_response(delete_collection(org, ids, all_or_none))

    router.add_api_route("", resources, methods=["GET"], include_in_schema=False)
    _route(router, "GET", "/limits", limits)
    _route(router, "GET", "/query", run_query)
    _route(router, "GET", "/queryAll", run_query_all)
    _route(router, "GET", "/query/{cursor}", query_more)
    _route(router, "GET", "/queryAll/{cursor}", query_more)
    _route(router, "POST", "/composite", composite)
    _route(router, "POST", "/composite/sobjects", create_records)
    _route(router, "PATCH", "/composite/sobjects", update_records)
    _route(router, "DELETE", "/composite/sobjects", delete_records)
    _route(router, "GET", "/sobjects", describe_global)
    _route(router, "GET", "/sobjects/{name}", sobject_info)
    _route(router, "POST", "/sobjects/{name}", create)
    _route(router, "GET", "/sobjects/{name}/describe", describe)
    _route(router, "GET", "/sobjects/{name}/updated", updated)
    _route(router, "GET", "/sobjects/{name}/deleted", deleted)
    _route(router, "GET", "/sobjects/{name}/{record_id}", read)
    _route(router, "PATCH", "/sobjects/{name}/{record_id}", update)
    _route(router, "DELETE", "/sobjects/{name}/{record_id}", delete)
    add_bulk2_routes(router, org)  # Bulk API 2.0 query jobs, behind the same guard
    add_consent_routes(router, org)  # the Consent API, likewise
    return router


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, secret


def oauth_router(sessions: Sessions) -> APIRouter:
    """`POST /services/oauth2/token` and the unversioned `GET /services/data/` list."""
    router = APIRouter()

    @router.post("/services/oauth2/token")
    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        form.update(request.query_params)
        base = f"https://{request.headers.get('host', '127.0.0.1')}"
        issued = sessions.grant(form, _basic_auth(request.headers.get("authorization")), base)
        identity = f"{base}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(time.time() * 1000))
        body = {
            "access_token": issued.access_token,
            "signature": Sessions.signature(identity, issued_at),
            "scope": "refresh_token api" if form.get("grant_type") == REFRESH_GRANT else "api",
            "instance_url": base,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        if issued.refresh_token is not None:
            body["refresh_token"] = issued.refresh_token
        return json_response(body)

    @router.post("/services/oauth2/revoke")
    async def revoke(request: Request) -> Response:
        """Revoke a refresh token (with the sessions it issued) or an access token."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        form.update(request.query_params)
        if not sessions.revoke(form.get("token", "")):
            raise OAuthError("unsupported_token_type", "this token type is not supported")
        return Response(status_code=200)

    @router.get("/services/data")
    @router.get("/services/data/", include_in_schema=False)
    def versions() -> Response:
        return json_response(
            [
                {"label": RELEASES[v], "url": f"/services/data/v{v}", "version": v}
                for v in API_VERSIONS
            ]
        )

    return router


def install_error_handlers(app: FastAPI) -> None:
    """Every error the emulator raises leaves in Salesforce's shape."""

    async def salesforce_error(_: Request, exc: Exception) -> Response:
        if isinstance(exc, SalesforceError | RecordRejected | OAuthError):
            return json_response(exc.body(), exc.status)
        raise exc

    async def bad_request(_: Request, exc: Exception) -> Response:
        return json_response(
            [{"message": f"Unexpected request body: {exc}", "errorCode": "JSON_PARSER_ERROR"}], 400
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        if status == 405:
            message = f"HTTP Method '{request.method}' not allowed."
            return json_response([{"message": message, "errorCode": "METHOD_NOT_ALLOWED"}], 405)
        detail = getattr(exc, "detail", None)
        if status == 404 or not request.url.path.startswith("/_sandbox/"):
            return json_response(not_found().body(), 404)
        # A control endpoint refusing a request: its reason, in the same envelope.
        if isinstance(detail, list):
            return json_response(detail, status)
        return json_response([{"message": str(detail), "errorCode": "INVALID_REQUEST"}], status)

    for kind in (SalesforceError, RecordRejected, OAuthError):
        app.add_exception_handler(kind, salesforce_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
