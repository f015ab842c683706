"""Connectors: the protocol each CRM adapter implements, its errors, and the retry and rate
helpers they share. The adapters are the `salesforce` and `hubspot` subpackages (each imports
its CRM's SDK, so this package does not import them); `factory.build_connector` builds one from
configuration.
"""

from __future__ import annotations

from consent_sync.connectors.protocol import (
    AuthError,
    Connector,
    ConnectorError,
    PermanentError,
    QuotaExhausted,
    TransientError,
)

__all__ = [
    "AuthError",
    "Connector",
    "ConnectorError",
    "PermanentError",
    "QuotaExhausted",
    "TransientError",
]
