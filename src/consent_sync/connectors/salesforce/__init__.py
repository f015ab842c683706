"""The Salesforce connector: simple-salesforce for REST, httpx for OAuth tokens."""

from __future__ import annotations

from consent_sync.connectors.salesforce.auth import (
    SalesforceCredentials,
)
from consent_sync.connectors.salesforce.connector import (
    SalesforceConnector,
    SalesforceSettings,
)

__all__ = [
    "SalesforceConnector",
    "SalesforceCredentials",
    "SalesforceSettings",
]
