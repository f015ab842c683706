"""OAuth grants, refused credentials, TLS trust and the token endpoint's edge cases."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import respx

from consent_sync.connectors.protocol import AuthError, PermanentError, TransientError
from consent_sync.connectors.salesforce.auth import (
    SalesforceCredentials,
    fetch_token,
    jwt_assertion,
    jwt_audience,
)
from support.salesforce_org import MakeConnector, Org, requests_to, write_rsa_key

TOKEN = "POST /services/oauth2/token"


@pytest.mark.parametrize("grant", ["client_credentials", "password", "jwt_bearer"])
def test_each_grant_obtains_a_session_that_queries(
    make_connector: MakeConnector, grant: str
) -> None:
    """Client credentials, username-password and JWT bearer each yield a working session."""
    connector = make_connector(grant)
    records = connector.read("Contact", [])
    assert records == []
    fields = {f.name for f in connector.describe("Contact")}
    assert {"HasOptedOutOfEmail", "SMS_Consent__c"} <= fields


@pytest.mark.parametrize(
    ("grant", "override", "secret"),
    [
        ("client_credentials", "client_secret", "wrong-client-secret-123"),
        ("password", "password", "wrong-password-456"),
        ("client_credentials", "client_id", "3MVGwrong-client-id"),
    ],
)
def test_wrong_credentials_raise_auth_error_without_the_secret(
    org: Org,
    make_connector: MakeConnector,
    control: httpx.Client,
    grant: str,
    override: str,
    secret: str,
) -> None:
    """Refused credentials raise AuthError naming the OAuth error, never the secret; no retry."""
    connector = make_connector(credentials=org.login(grant, **{override: secret}))
    with pytest.raises(AuthError) as caught:
        connector.describe("Contact")
    message = str(caught.value)
    assert "invalid_" in message
    assert secret not in message and org.credentials.client_secret not in message
    assert secret not in repr(connector.settings.credentials)
    assert requests_to(control, TOKEN) == 1


def test_jwt_signed_by_an_unknown_key_is_refused(
    org: Org, make_connector: MakeConnector, tmp_path: Path, control: httpx.Client
) -> None:
    """A JWT signed with a key the connected app does not hold: AuthError invalid_client."""
    write_rsa_key(tmp_path / "other.key")
    credentials = org.login("jwt_bearer", private_key_file=str(tmp_path / "other.key"))
    with pytest.raises(AuthError, match="invalid_client invalid client credentials"):
        make_connector(credentials=credentials).describe("Contact")
    assert requests_to(control, TOKEN) == 1


def _token_error(org: Org, assertion: str) -> tuple[int, dict[str, str]]:
    with org.control() as client:
        response = client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            },
        )
    return response.status_code, response.json()


def test_sandbox_answers_salesforce_errors_for_bad_assertions(org: Org) -> None:
    """The emulated token endpoint refuses bad JWTs with Salesforce's own error bodies."""
    good = org.login("jwt_bearer")
    now = time.time()
    header, claims, signature = jwt_assertion(good, now=now).split(".")
    assert _token_error(org, "not-a-jwt") == (
        400,
        {"error": "invalid_grant", "error_description": "invalid assertion"},
    )
    tampered = f"{header}.{claims}.{signature[:-4]}AAAA"
    assert _token_error(org, tampered)[1]["error"] == "invalid_client"
    expired = jwt_assertion(good, now=now - 600)
    assert _token_error(org, expired)[1] == {
        "error": "invalid_grant",
        "error_description": "expired authorization code",
    }
    stranger = jwt_assertion(
        SalesforceCredentials(**{**_fields(good), "username": "someone@else.example"}), now=now
    )
    assert _token_error(org, stranger)[1]["error_description"] == (
        "user hasn't approved this consumer"
    )
    wrong_app = jwt_assertion(SalesforceCredentials(**{**_fields(good), "client_id": "3MVGx"}))
    assert _token_error(org, wrong_app)[1]["error"] == "invalid_client_id"


def _fields(creds: SalesforceCredentials) -> dict[str, object]:
    return {name: getattr(creds, name) for name in SalesforceCredentials.__slots__}


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("https://login.salesforce.com/", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://127.0.0.1:8701/", "https://127.0.0.1:8701"),
    ],
)
def test_jwt_audience_follows_salesforce_rules(login_url: str, audience: str) -> None:
    """My Domain logins assert login.salesforce.com, sandboxes test.salesforce.com."""
    assert jwt_audience(login_url) == audience


def test_environment_ca_and_proxy_variables_are_ignored(
    make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUESTS_CA_BUNDLE, SSL_CERT_FILE and proxy variables cannot override the CA setting."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    assert make_connector().describe("Lead")


def test_untrusted_server_certificate_is_permanent(
    make_connector: MakeConnector, control: httpx.Client
) -> None:
    """Without the sandbox CA the token call fails as a permanent error, not retried."""
    with pytest.raises(PermanentError, match="not trusted"):
        make_connector(ca_file=None).describe("Contact")
    assert control.get("/_sandbox/stats").json()["total"] == 0


CREDS = SalesforceCredentials(
    "https://login.example.test", "client_credentials", "id", client_secret="s3cret-value"
)
TOKEN_URL = "https://login.example.test/services/oauth2/token"


@respx.mock
def test_token_endpoint_html_error_page_is_auth_error() -> None:
    """A non-JSON 400 from the token endpoint (an HTML error page) is an AuthError with status."""
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(400, text="<html>Bad</html>"))
    with pytest.raises(AuthError, match="HTTP 400") as caught:
        fetch_token(CREDS, ca_file=None, timeout=5)
    assert "s3cret" not in str(caught.value)


@respx.mock
def test_token_endpoint_non_json_success_is_transient() -> None:
    """A 200 whose body is not a token (truncated, HTML) is retried, never taken as a token."""
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, text="<html>maintenance"))
    with pytest.raises(TransientError, match="unreadable"):
        fetch_token(CREDS, ca_file=None, timeout=5)


@respx.mock
def test_token_endpoint_busy_is_transient_with_retry_after() -> None:
    """503 with Retry-After from the token endpoint is transient and carries the wait."""
    respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(503, headers={"Retry-After": "3"}, text="busy")
    )
    with pytest.raises(TransientError) as caught:
        fetch_token(CREDS, ca_file=None, timeout=5)
    assert caught.value.retry_after == 3.0


@respx.mock
def test_token_request_sends_the_grant_form() -> None:
    """The password grant posts client and user credentials as a form, once."""
    route = respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            200, json={"access_token": "00D!x", "instance_url": "https://i.example.test"}
        )
    )
    creds = SalesforceCredentials(
        "https://login.example.test", "password", "id", "sec", username="u@x", password="pw"
    )
    token = fetch_token(creds, ca_file=None, timeout=5)
    assert token.instance_url == "https://i.example.test"
    assert "00D!x" not in repr(token)
    sent = dict(httpx.QueryParams(route.calls.last.request.content.decode()))
    assert sent == {
        "grant_type": "password",
        "client_id": "id",
        "client_secret": "sec",
        "username": "u@x",
        "password": "pw",
    }
