"""`grant: refresh_token` against the emulator's token endpoint: the connector logs in with the
refresh token its environment gives, keeps a rotated one in memory only, re-authenticates once
on an expired session, and a revoked token is an AuthError that names no secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import AuthError
from consent_sync.connectors.salesforce.auth import SalesforceCredentials
from consent_sync.connectors.salesforce.connector import SalesforceConnector, SalesforceSettings
from consent_sync_sandbox.salesforce import build_salesforce
from support.config_files import write_config
from support.salesforce_emulator import Served, serve
from support.salesforce_org import FAST_RETRY, requests_to

TOKEN = "POST /services/oauth2/token"
DESCRIBE = "GET /services/data/v{version}/sobjects/{name}/describe"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An org whose refresh tokens last (no rotation)."""
    served = serve(build_salesforce(20, seed=3), tmp_path_factory.mktemp("sf-refresh"))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An org that answers every refresh with a new refresh token and spends the old one."""
    served = serve(
        build_salesforce(20, seed=3, rotate_refresh_tokens=True),
        tmp_path_factory.mktemp("sf-rotating"),
    )
    yield served
    served.stop()


def _connector(org: Served, **overrides: Any) -> SalesforceConnector:
    env = org.env
    creds = SalesforceCredentials(
        login_url=env["SALESFORCE_LOGIN_URL"],
        grant="refresh_token",
        client_id=env["SALESFORCE_CLIENT_ID"],
        client_secret=env["SALESFORCE_CLIENT_SECRET"],
        refresh_token=overrides.pop("refresh_token", env["SALESFORCE_REFRESH_TOKEN"]),
    )
    return SalesforceConnector(
        SalesforceSettings(
            credentials=creds,
            fields={"Contact": ("Email", "HasOptedOutOfEmail")},
            ca_file=env["SALESFORCE_CA_FILE"],
            retry=FAST_RETRY,
            **overrides,
        )
    )


def _reset(control: httpx.Client) -> None:
    control.delete("/_sandbox/faults").raise_for_status()
    control.delete("/_sandbox/stats").raise_for_status()


def test_the_shipped_style_config_logs_in_with_the_refresh_token_from_the_environment(
    plain: Served, tmp_path: Path
) -> None:
    """connectors/<name>.yaml with `grant: refresh_token` builds a connector that reads."""
    root = write_config(
        tmp_path,
        {
            "connectors/crm.yaml": """\
                type: salesforce
                auth:
                  login_url: ${SALESFORCE_LOGIN_URL}
                  grant: refresh_token
                  client_id: ${SALESFORCE_CLIENT_ID}
                  client_secret: ${SALESFORCE_CLIENT_SECRET}
                  refresh_token: ${SALESFORCE_REFRESH_TOKEN}
                  ca_file: ${SALESFORCE_CA_FILE}
                """
        },
    )
    config = load_config(root, env={**plain.env, "HUB_TOKEN": "unused"})
    connector = build_connector(config.connectors["crm"], config.mappings["crm"])
    try:
        pages = list(connector.pull("Contact", None))
        assert sum(len(p.records) for p in pages) == 20
    finally:
        connector.close()


def test_an_expired_session_refreshes_once_with_the_same_token(plain: Served) -> None:
    """Without rotation the refresh token stays the one the environment gave; an expired
    session costs one token request, then the call succeeds."""
    connector = _connector(plain)
    with plain.control() as control:
        try:
            connector.describe("Contact")
            _reset(control)
            control.put("/_sandbox/faults", json={"expire_tokens": True}).raise_for_status()
            assert connector.describe("Contact")
            assert requests_to(control, TOKEN) == 1
            assert requests_to(control, DESCRIBE) == 2  # one refused, one served
        finally:
            _reset(control)
            connector.close()


def test_a_rotated_refresh_token_is_used_from_memory_and_never_logged(
    rotating: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each refresh spends the token it used: the connector refreshes with the one the org
    returned last, so a second expiry still logs in; no token appears in a log line."""
    connector = _connector(rotating)
    given = rotating.env["SALESFORCE_REFRESH_TOKEN"]
    with rotating.control() as control:
        try:
            connector.describe("Contact")  # spends the environment's token
            for _ in range(2):
                _reset(control)
                control.put("/_sandbox/faults", json={"expire_tokens": True}).raise_for_status()
                assert connector.describe("Contact")
                assert requests_to(control, TOKEN) == 1
        finally:
            _reset(control)
            connector.close()
    out = capsys.readouterr()
    assert given not in out.out + out.err
    assert "5Aep861" not in out.out + out.err
    # The environment's token is spent: anything that kept only it could not log in again.
    again = _connector(rotating, refresh_token=given)
    try:
        with pytest.raises(AuthError, match="invalid_grant"):
            again.describe("Contact")
    finally:
        again.close()


def test_a_revoked_refresh_token_is_an_auth_error_naming_no_secret(plain: Served) -> None:
    """Salesforce's invalid_grant surfaces as AuthError; the token is not in its message."""
    connector = _connector(plain, refresh_token="5Aep861.not-a-token-this-org-issued")
    try:
        with pytest.raises(AuthError) as raised:
            connector.describe("Contact")
    finally:
        connector.close()
    message = str(raised.value)
    assert "invalid_grant" in message and "refresh_token" in message
    assert "not-a-token" not in message
