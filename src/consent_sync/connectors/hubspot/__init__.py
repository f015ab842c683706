"""The HubSpot connector: hubspot-api-client for CRM objects, httpx for Communication
Preferences v4 (which the client lacks).
"""

from __future__ import annotations

from consent_sync.connectors.hubspot.connector import (
    HubSpotConnector,
    HubSpotSettings,
)

__all__ = [
    "HubSpotConnector",
    "HubSpotSettings",
]
