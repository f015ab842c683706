"""The Web API routes under `/api/data/v9.x/`: contacts, table definitions, WhoAmI."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from consent_sync_sandbox.dynamics import metadata
from consent_sync_sandbox.dynamics.auth import TENANT_ID
from consent_sync_sandbox.dynamics.errors import DataverseError, bad_request
from consent_sync_sandbox.dynamics.operations import ApiResponse, ContactsApi
from consent_sync_sandbox.dynamics.query import Prefer

API_VERSIONS = ("9.0", "9.1", "9.2")
_PREFIX = "/api/data/v{version}"
BUSINESS_UNIT_ID = "3c1d7e2f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
USER_ID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"  # the application user of the app registration


def root_url(base_url: str, version: str) -> str:
    """`https://host:port/api/data/v9.2` (the version checked)."""
    if version not in API_VERSIONS:
        raise DataverseError(404, "0x8006088a", f"Resource not found for the segment 'v{version}'.")
    return f"{base_url.rstrip('/')}/api/data/v{version}"


def api_root(request: Request, version: str) -> str:
    """The Web API root this request addresses."""
    return root_url(str(request.base_url), version)


def to_response(answer: ApiResponse) -> Response:
    """An operation's answer as the HTTP response the Web API writes."""
    if answer.body is None:
        return Response(status_code=answer.status, headers=answer.headers)
    return JSONResponse(
        answer.body,
        status_code=answer.status,
        headers=answer.headers,
        media_type="application/json; odata.metadata=minimal",
    )


def json_body(raw: bytes) -> Any:
    """A request body as JSON, or Dataverse's 400 for one that is not."""
    try:
        return json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("Invalid JSON. The request body is not a valid JSON document.") from None


def prefer_of(request: Request) -> Prefer:
    return Prefer.parse(request.headers.getlist("prefer"))


def api_router(contacts: ContactsApi) -> APIRouter:
    """Routes for the contacts entity set, its definitions and WhoAmI."""
    router = APIRouter(prefix=_PREFIX)

    @router.get("/contacts")
    def list_contacts(request: Request, version: str) -> Response:
        root = api_root(request, version)
        return to_response(contacts.query(root, request.query_params, prefer_of(request)))

    @router.post("/contacts")
    async def create_contact(request: Request, version: str) -> Response:
        root = api_root(request, version)
        body = json_body(await request.body())
        return to_response(contacts.create(root, body, prefer_of(request)))

    @router.get("/contacts({key})")
    def get_contact(request: Request, version: str, key: str) -> Response:
        root = api_root(request, version)
        answer = contacts.retrieve(
            root, key, request.query_params, request.headers.get("if-none-match")
        )
        return to_response(answer)

    @router.patch("/contacts({key})")
    async def update_contact(request: Request, version: str, key: str) -> Response:
        root = api_root(request, version)
        body = json_body(await request.body())
        answer = contacts.update(
            root,
            key,
            body,
            if_match=request.headers.get("if-match"),
            prefer=prefer_of(request),
        )
        return to_response(answer)

    @router.delete("/contacts({key})")
    def delete_contact(request: Request, version: str, key: str) -> Response:
        api_root(request, version)
        return to_response(contacts.delete(key))

    @router.get("/EntityDefinitions")
    def list_entities(request: Request, version: str) -> Response:
        root = api_root(request, version)
        return to_response(ApiResponse(200, metadata.list_entities(root, request.query_params)))

    @router.get("/EntityDefinitions({key})")
    def get_entity(request: Request, version: str, key: str) -> Response:
        root = api_root(request, version)
        return to_response(ApiResponse(200, metadata.get_entity(root, key, request.query_params)))

    @router.get("/EntityDefinitions({key})/Attributes")
    def list_attributes(request: Request, version: str, key: str) -> Response:
        root = api_root(request, version)
        body = metadata.list_attributes(root, key, request.query_params)
        return to_response(ApiResponse(200, body))

    @router.get("/EntityDefinitions({key})/Attributes/{cast}")
    def list_cast_attributes(request: Request, version: str, key: str, cast: str) -> Response:
        root = api_root(request, version)
        body = metadata.list_attributes(root, key, request.query_params, cast)
        return to_response(ApiResponse(200, body))

    @router.get("/EntityDefinitions({key})/Attributes({attribute})")
    def get_attribute(request: Request, version: str, key: str, attribute: str) -> Response:
        root = api_root(request, version)
        body = metadata.get_attribute(root, key, attribute, request.query_params)
        return to_response(ApiResponse(200, body))

    @router.get("/WhoAmI")
    def who_am_i(request: Request, version: str) -> Response:
        root = api_root(request, version)
        body = {
            "@odata.context": f"{root}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": BUSINESS_UNIT_ID,
            "UserId": USER_ID,
            "OrganizationId": TENANT_ID,
        }
        return to_response(ApiResponse(200, body))

    return router


def fallback_router() -> APIRouter:
    """Any other Web API path: Dataverse's 404 for a segment it does not know."""
    router = APIRouter()

    @router.api_route("/api/data/{rest:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    def unknown(rest: str) -> Response:
        segment = rest.split("/")[-1] or rest
        raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")

    return router
