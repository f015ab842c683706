"""The refresh-token grant, token revocation, API versions and the error envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from simple_salesforce import Salesforce, SalesforceExpiredSession

from consent_sync_sandbox.salesforce import Credentials, build_salesforce
from support.salesforce_emulator import Served, serve

EXPIRED = {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def _refresh(served: Served, token: str, **form: str) -> httpx.Response:
    env = served.env
    return httpx.post(
        f"{served.base_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": env["SALESFORCE_CLIENT_ID"],
            "client_secret": env["SALESFORCE_CLIENT_SECRET"],
            **form,
        },
        verify=served.ssl_context(),
    )


def _client(served: Served, access_token: str, version: str = "59.0") -> Salesforce:
    session = requests.Session()
    session.verify = str(served.tls.ca_pem)
    session.trust_env = False
    served.sessions.append(session)
    return Salesforce(
        instance_url=served.base_url, session_id=access_token, session=session, version=version
    )


@pytest.fixture
def rotating(tmp_path: Path) -> Iterator[Served]:
    """An org whose connected app rotates refresh tokens."""
    running = serve(build_salesforce(5, rotate_refresh_tokens=True), tmp_path)
    yield running
    running.stop()


def test_refresh_token_grant_gives_a_working_session(served: Served) -> None:
    """The SALESFORCE_REFRESH_TOKEN the sandbox prints buys a session simple-salesforce uses."""
    token = served.env["SALESFORCE_REFRESH_TOKEN"]
    assert token.startswith("5Aep861")
    response = _refresh(served, token)
    assert response.status_code == 200
    body = response.json()
    assert {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"} <= set(
        body
    )
    assert "refresh_token" not in body  # no rotation: the same token keeps working
    sf = _client(served, body["access_token"])
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0
    assert _refresh(served, token).status_code == 200


def test_an_unknown_refresh_token_is_invalid_grant(served: Served) -> None:
    """A refresh token the org never issued answers 400 invalid_grant, as Salesforce words it."""
    response = _refresh(served, "5Aep861NotOneOfOurs")
    assert response.status_code == 400
    assert response.json() == EXPIRED


def test_the_connected_app_secret_is_checked(served: Served) -> None:
    """A refresh with the wrong client secret is invalid_client, even with a good token."""
    response = _refresh(served, served.env["SALESFORCE_REFRESH_TOKEN"], client_secret="wrong")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_client")


def test_rotation_spends_each_refresh_token_once(rotating: Served) -> None:
    """With rotation on, a refresh answers a new refresh token and the old one is refused."""
    first = rotating.env["SALESFORCE_REFRESH_TOKEN"]
    response = _refresh(rotating, first)
    rotated = response.json()["refresh_token"]
    assert rotated != first and rotated.startswith("5Aep861")
    assert _refresh(rotating, first).json() == EXPIRED
    assert _refresh(rotating, rotated).status_code == 200


def test_revoking_a_refresh_token_ends_its_sessions(tmp_path: Path) -> None:
    """POST /services/oauth2/revoke: the token is refused and the sessions it made expire."""
    known = Credentials(refresh_token="5Aep861FixedForThisTest")
    running = serve(build_salesforce(5, credentials=known), tmp_path)
    try:
        assert running.env["SALESFORCE_REFRESH_TOKEN"] == "5Aep861FixedForThisTest"
        session = _client(
            running, _refresh(running, known.refresh_token or "").json()["access_token"]
        )
        other = running.client()  # a client-credentials session: not the refresh token's
        revoked = httpx.post(
            f"{running.base_url}/services/oauth2/revoke",
            data={"token": known.refresh_token},
            verify=running.ssl_context(),
        )
        assert revoked.status_code == 200
        assert _refresh(running, known.refresh_token or "").json() == EXPIRED
        with pytest.raises(SalesforceExpiredSession):
            session.query("SELECT COUNT() FROM Contact")
        assert other.query("SELECT COUNT() FROM Contact")["totalSize"] == 5
        again = httpx.post(
            f"{running.base_url}/services/oauth2/revoke",
            data={"token": known.refresh_token},
            verify=running.ssl_context(),
        )
        assert again.status_code == 400
    finally:
        running.stop()


def test_versions_run_up_to_winter_27(served: Served, control: httpx.Client) -> None:
    """`/services/data/` lists 31.0 through 68.0, the release Salesforce serves now."""
    versions = control.get("/services/data/").json()
    assert [v["version"] for v in versions] == [f"{v}.0" for v in range(31, 69)]
    assert versions[-1] == {"label": "Winter '27", "url": "/services/data/v68.0", "version": "68.0"}
    by_version = {v["version"]: v["label"] for v in versions}
    assert (by_version["59.0"], by_version["62.0"], by_version["66.0"]) == (
        "Winter '24",
        "Winter '25",
        "Spring '26",
    )
    latest = _client(served, served.token(), version="68.0")
    assert latest.query("SELECT Id, Party.Name FROM ContactPointTypeConsent LIMIT 1")["records"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/services/data/v25.0/sobjects", 410),  # retired since Summer '25
        ("/services/data/v69.0/sobjects", 404),  # not released
        ("/services/data/v62.0/no/such/resource", 404),
        ("/services/elsewhere", 404),
    ],
)
def test_errors_use_salesforces_envelope(control: httpx.Client, path: str, status: int) -> None:
    """Unknown versions and routes answer Salesforce's error list, never a framework's."""
    response = control.get(path)
    assert response.status_code == status
    assert response.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_wrong_method_uses_the_envelope(control: httpx.Client) -> None:
    """A method a resource lacks answers 405 METHOD_NOT_ALLOWED in the same shape."""
    response = control.put("/services/oauth2/token")
    assert response.status_code == 405
    assert response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
