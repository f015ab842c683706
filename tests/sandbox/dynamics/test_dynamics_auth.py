"""Client credentials at the Entra-ID-shaped token URL, and bearer tokens on the Web API."""

from __future__ import annotations

import base64

import httpx

from support.dynamics_emulator import Sandbox


def test_client_credentials_grant_answers_a_bearer_token(sandbox: Sandbox) -> None:
    """A good request gets token_type Bearer, an expiry and a token the Web API accepts."""
    response = sandbox.token_response()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    with sandbox.api(body["access_token"]) as api:
        assert api.get("/WhoAmI").json()["UserId"]


def test_client_secret_may_come_as_http_basic(sandbox: Sandbox) -> None:
    """client_secret_basic: the id and secret in an Authorization header are accepted."""
    env = sandbox.env
    pair = f"{env['DYNAMICS_CLIENT_ID']}:{env['DYNAMICS_CLIENT_SECRET']}".encode()
    response = httpx.post(
        env["DYNAMICS_TOKEN_URL"],
        data={"grant_type": "client_credentials", "scope": f"{sandbox.base_url}/.default"},
        headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
        verify=sandbox.ssl_context(),
    )
    assert response.status_code == 200, response.text


def test_wrong_secret_is_invalid_client_with_its_aadsts_code(sandbox: Sandbox) -> None:
    """A wrong secret answers 401 invalid_client, AADSTS7000215, and names no secret."""
    response = sandbox.token_response(client_secret="not-the-secret")
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret")
    assert "not-the-secret" not in response.text
    assert {"trace_id", "correlation_id", "timestamp"} <= set(body)


def test_unknown_client_wrong_grant_and_bad_scopes_are_refused(sandbox: Sandbox) -> None:
    """Unknown app, other grant types, a scope without /.default or for another resource."""
    cases = {
        "unauthorized_client": {"client_id": "00000000-0000-0000-0000-000000000000"},
        "unsupported_grant_type": {"grant_type": "password"},
        "invalid_scope": {"scope": f"{sandbox.base_url}/user_impersonation"},
        "invalid_resource": {"scope": "https://other.crm.dynamics.com/.default"},
        "invalid_request": {"scope": ""},
    }
    for error, form in cases.items():
        response = sandbox.token_response(**form)
        assert response.status_code == 400, (error, response.text)
        assert response.json()["error"] == error


def test_api_without_a_token_is_401_with_a_bearer_challenge(sandbox: Sandbox) -> None:
    """No token: 401, the OData error shape and a WWW-Authenticate naming where to sign in."""
    with httpx.Client(base_url=sandbox.base_url, verify=sandbox.ssl_context()) as http:
        response = http.get("/api/data/v9.2/contacts")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("RequestIsNotAuthenticated")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer authorization_uri=https://login.microsoftonline.com/")


def test_unknown_token_is_invalid_auth_ticket(sandbox: Sandbox) -> None:
    """A token the tenant never issued: 401 InvalidAuthTicket with error=invalid_token."""
    with sandbox.api("eyJ0eXAi.forged") as api:
        response = api.get("/contacts")
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("InvalidAuthTicket")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_expired_tokens_fault_expires_issued_tokens_only(sandbox: Sandbox) -> None:
    """With expiry injected, tokens issued before are refused and a fresh one works again."""
    old = sandbox.token()
    with sandbox.control() as control:
        control.put("/_sandbox/faults", json={"expire_tokens": True}).raise_for_status()
    with sandbox.api(old) as api:
        response = api.get("/contacts", params={"$top": "1"})
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("ExpiredAuthTicket")
    with sandbox.api(sandbox.token()) as api:
        assert api.get("/contacts", params={"$top": "1"}).status_code == 200
