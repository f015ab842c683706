"""OAuth token requests and session expiry, as the connector meets them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from simple_salesforce import SalesforceExpiredSession

from consent_sync_sandbox.salesforce import build_salesforce
from support.salesforce_emulator import Served, serve


def _token(served: Served, **form: str) -> httpx.Response:
    return httpx.post(
        f"{served.base_url}/services/oauth2/token", data=form, verify=served.ssl_context()
    )


def test_client_credentials_grant_returns_a_bearer_token(served: Served) -> None:
    """client_credentials with the org's connected app yields the real token response."""
    env = served.env
    response = _token(
        served,
        grant_type="client_credentials",
        client_id=env["SALESFORCE_CLIENT_ID"],
        client_secret=env["SALESFORCE_CLIENT_SECRET"],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == served.base_url
    assert {"access_token", "id", "issued_at", "signature"} <= body.keys()


def test_password_grant_accepts_the_integration_user(served: Served) -> None:
    """The username-password grant works for developer orgs."""
    env = served.env
    response = _token(
        served,
        grant_type="password",
        client_id=env["SALESFORCE_CLIENT_ID"],
        client_secret=env["SALESFORCE_CLIENT_SECRET"],
        username=env["SALESFORCE_USERNAME"],
        password=env["SALESFORCE_PASSWORD"],
    )
    assert response.status_code == 200
    assert response.json()["access_token"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "someone-else"}, "invalid_client_id"),
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"grant_type": "password", "password": "wrong"}, "invalid_grant"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ],
)
def test_wrong_credentials_get_the_oauth_error_body(
    served: Served, change: dict[str, str], error: str
) -> None:
    """Refused token requests answer 400 with {"error", "error_description"}."""
    env = served.env
    form = {
        "grant_type": "client_credentials",
        "client_id": env["SALESFORCE_CLIENT_ID"],
        "client_secret": env["SALESFORCE_CLIENT_SECRET"],
        "username": env["SALESFORCE_USERNAME"],
        "password": env["SALESFORCE_PASSWORD"],
        **change,
    }
    response = _token(served, **form)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_unknown_token_is_invalid_session(served: Served) -> None:
    """A request with a token the org never issued gets 401 INVALID_SESSION_ID."""
    client = served.client()
    client.session_id = "00Dbogus!token"
    client.headers["Authorization"] = "Bearer 00Dbogus!token"
    with pytest.raises(SalesforceExpiredSession) as caught:
        client.query("SELECT Id FROM Contact LIMIT 1")
    assert caught.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_expire_tokens_fault_invalidates_issued_tokens_only(
    served: Served, control: httpx.Client
) -> None:
    """After `expire_tokens`, old sessions get 401 and a fresh token works again."""
    sf = served.client()
    sf.query("SELECT Id FROM Contact LIMIT 1")
    control.put("/_sandbox/faults", json={"expire_tokens": True}).raise_for_status()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Contact LIMIT 1")
    assert served.client().query("SELECT Id FROM Contact LIMIT 1")["totalSize"] == 1


def test_tokens_expire_after_their_ttl(tmp_path: Path) -> None:
    """A token older than token_ttl is refused with INVALID_SESSION_ID."""
    short = serve(build_salesforce(5, token_ttl=0.3), tmp_path)
    sf = short.client()
    try:
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 5
        time.sleep(0.5)  # the scenario: the token outlives its 0.3 s TTL
        with pytest.raises(SalesforceExpiredSession):
            sf.query("SELECT COUNT() FROM Contact")
    finally:
        short.stop()
