"""Every /api/v1 route needs a bearer token of the right scope: 401 without one or with a wrong
or revoked one, 403 with a too-narrow scope, both as JSON; /healthz-style routes are not here.

The routes are taken from the app itself, so a route added later is tested (and fails until
`NEEDS` says which scope it needs)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from api.conftest import ApiServer
from consent_sync.api import API_PREFIX, ApiContext, create_api
from consent_sync.store import Scope, Store
from consent_sync.store.db import create_store_engine

#: (method, path) -> the narrowest scope that may call it.
NEEDS: dict[tuple[str, str], Scope] = {
    ("GET", "/api/v1/subjects"): Scope.READ,
    ("POST", "/api/v1/consents"): Scope.WRITE,
    ("GET", "/api/v1/conflicts"): Scope.READ,
    ("GET", "/api/v1/conflicts/{conflict_id}"): Scope.READ,
    ("POST", "/api/v1/conflicts/{conflict_id}/resolve"): Scope.WRITE,
    ("GET", "/api/v1/runs"): Scope.READ,
    ("GET", "/api/v1/runs/{run_id}"): Scope.READ,
    ("GET", "/api/v1/systems"): Scope.READ,
    ("GET", "/api/v1/outbox/dead"): Scope.READ,
    ("POST", "/api/v1/outbox/{outbox_id}/retry"): Scope.ADMIN,
}
PATH_VALUES = {"conflict_id": "1", "run_id": str(uuid.UUID(int=1)), "outbox_id": "1"}


def _routes() -> list[tuple[str, str]]:
    """Every (method, path) the API app documents under /api/v1 (built over a store never
    opened); a route hidden from the OpenAPI document would also break its schemathesis run."""
    app = create_api(ApiContext(Store(create_store_engine("sqlite://")), {}))
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(API_PREFIX)
        for method in operations
    )


ROUTES = _routes()


def _url(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace(f"{{{name}}}", value)
    return path


def test_every_route_is_listed_with_the_scope_it_needs() -> None:
    """No route of the app is missing from NEEDS (nor NEEDS naming one that is gone)."""
    assert sorted(NEEDS) == ROUTES


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer cst_not-a-token", "Basic dXNlcjpwYXNz", "Bearer"],
    ids=["none", "wrong", "basic", "empty"],
)
def test_a_route_refuses_a_missing_or_wrong_token_with_401(
    shared_api: ApiServer, method: str, path: str, authorization: str | None
) -> None:
    """No token, an unknown one or another scheme: 401 JSON with a code and WWW-Authenticate."""
    headers = {} if authorization is None else {"Authorization": authorization}
    with shared_api.client(None, **headers) as client:
        response = client.request(method, _url(path), json={})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_route_refuses_a_too_narrow_scope_with_403(
    shared_api: ApiServer, method: str, path: str
) -> None:
    """Each scope below the route's needs gets 403 JSON; the route's own scope gets past auth."""
    needed = NEEDS[(method, path)]
    for scope in Scope:
        with shared_api.client(scope) as client:
            response = client.request(method, _url(path), json={})
        if scope.covers(needed):
            assert response.status_code not in (401, 403), (scope, response.text)
        else:
            assert response.status_code == 403, (scope, response.text)
            assert response.json()["code"] == "forbidden"


def test_a_revoked_token_is_refused_at_once(api: ApiServer) -> None:
    """After `revoke`, the same token gets 401 on its next request."""
    with api.client(Scope.READ) as client:
        assert client.get("/api/v1/systems").status_code == 200
        api.store.tokens.revoke("test-read", datetime.now(UTC))
        assert client.get("/api/v1/systems").status_code == 401


def test_openapi_document_is_open_and_declares_bearer_auth(shared_api: ApiServer) -> None:
    """/openapi.json needs no token, and every route in it requires the bearer scheme."""
    with shared_api.client(None) as client:
        document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security"), (method, path)
            assert {"400", "401", "403", "422", "500"} <= set(operation["responses"]), (
                method,
                path,
            )
