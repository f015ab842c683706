"""The declarative connector: any HTTP/JSON system described by a spec in
`connectors/<system>.yaml` (`type: declarative`; docs/connectors.md)."""

from __future__ import annotations

from consent_sync.connectors.declarative.connector import (
    DeclarativeConnector,
    DeclarativeSettings,
)

__all__ = ["DeclarativeConnector", "DeclarativeSettings"]
