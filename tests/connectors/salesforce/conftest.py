"""A seeded Salesforce emulator over local TLS, and connectors built against it.

The org trusts a JWT signing certificate generated here, so every OAuth grant can be tested.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from consent_sync.connectors.salesforce.auth import Grant, SalesforceCredentials
from consent_sync.connectors.salesforce.connector import SalesforceConnector, SalesforceSettings
from consent_sync_sandbox.common import ServerThread, make_tls
from consent_sync_sandbox.salesforce import Credentials, build_salesforce
from support.salesforce_org import (
    FAST_RETRY,
    FIELDS,
    SEEDED,
    MakeConnector,
    Org,
    self_signed_certificate,
    write_rsa_key,
)


@pytest.fixture(scope="session")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """One emulator for the module's tests: 5,200 seeded contacts and a JWT certificate."""
    state = tmp_path_factory.mktemp("sf-connector")
    key = write_rsa_key(state / "jwt.key")
    credentials = Credentials(jwt_certificate=self_signed_certificate(key))
    emulator = build_salesforce(SEEDED, seed=11, credentials=credentials)
    tls = make_tls(state)
    server = ServerThread(emulator.app, tls).start()
    yield Org(emulator, server, tls, credentials, state / "jwt.key")
    server.stop()


@pytest.fixture
def control(org: Org) -> Iterator[httpx.Client]:
    """The emulator's `/_sandbox` endpoints; faults, stats and quota are reset around each test."""
    with org.control() as client:
        client.delete("/_sandbox/faults").raise_for_status()
        client.delete("/_sandbox/stats").raise_for_status()
        yield client
        client.delete("/_sandbox/faults").raise_for_status()
        client.put("/_sandbox/api-usage", json={"used": 0, "daily_limit": 5_000_000})


@pytest.fixture
def make_connector(org: Org, control: httpx.Client) -> Iterator[MakeConnector]:
    """Build connectors against the org (client credentials unless told otherwise)."""
    made: list[SalesforceConnector] = []

    def make(
        grant: Grant = "client_credentials",
        credentials: SalesforceCredentials | None = None,
        **settings: Any,
    ) -> SalesforceConnector:
        options: dict[str, Any] = {
            "ca_file": org.ca_file,
            "timeout": 10.0,
            "retry": FAST_RETRY,
            "fields": {"Contact": FIELDS, "Lead": FIELDS},
            "api_version": "62.0",
        }
        options.update(settings)
        connector = SalesforceConnector(
            SalesforceSettings(credentials=credentials or org.login(grant), **options)
        )
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def connector(make_connector: MakeConnector) -> SalesforceConnector:
    """A client-credentials connector with fast retries."""
    return make_connector()
