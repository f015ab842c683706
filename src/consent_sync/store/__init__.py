"""The canonical consent store: tables, transactions, the ledger, the outbox and migrations.

The names below are imported on first use (PEP 562): `import consent_sync.store.db` then loads
only what that module needs, so a read command opens the store without the ingestion, outbox
and browsing modules (docs/performance.md, "CLI start-up").
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consent_sync.store.browse import Browse
    from consent_sync.store.coordination import Coordination
    from consent_sync.store.db import DEFAULT_URL, URL_ENV, database_url, redact_url
    from consent_sync.store.decide import Applied, Decisions, IngestReport
    from consent_sync.store.errors import (
        ConflictNotFoundError,
        ConflictNotResolvableError,
        DecisionRefusedError,
        OutboxItemNotFoundError,
        StoreError,
        SubjectNotFoundError,
        SyncRunNotFoundError,
        UnknownPurposeError,
        UnlinkedObservationError,
        UnsupportedDatabaseError,
    )
    from consent_sync.store.facade import Store
    from consent_sync.store.ledger import LedgerCheck, LedgerProblem
    from consent_sync.store.outbox import Outbox, OutboxItem
    from consent_sync.store.queueing import OutboxState
    from consent_sync.store.schema import SchemaOutdatedError
    from consent_sync.store.tokens import Scope, TokenInfo, Tokens
    from consent_sync.store.views import Delivery, PendingWrite, SubjectView, Views
    from consent_sync.store.webhooks import PendingReads, WebhookNotice, Webhooks

#: Where each public name lives (the module under `consent_sync.store`).
_HOMES = {
    "browse": ("Browse",),
    "coordination": ("Coordination",),
    "db": ("DEFAULT_URL", "URL_ENV", "database_url", "redact_url"),
    "decide": ("Applied", "Decisions", "IngestReport"),
    "errors": (
        "ConflictNotFoundError",
        "ConflictNotResolvableError",
        "DecisionRefusedError",
        "OutboxItemNotFoundError",
        "StoreError",
        "SubjectNotFoundError",
        "SyncRunNotFoundError",
        "UnknownPurposeError",
        "UnlinkedObservationError",
        "UnsupportedDatabaseError",
    ),
    "facade": ("Store",),
    "ledger": ("LedgerCheck", "LedgerProblem"),
    "outbox": ("Outbox", "OutboxItem"),
    "queueing": ("OutboxState",),
    "schema": ("SchemaOutdatedError",),
    "tokens": ("Scope", "TokenInfo", "Tokens"),
    "views": ("Delivery", "PendingWrite", "SubjectView", "Views"),
    "webhooks": ("PendingReads", "WebhookNotice", "Webhooks"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "Applied",
    "Browse",
    "ConflictNotFoundError",
    "ConflictNotResolvableError",
    "Coordination",
    "DecisionRefusedError",
    "Decisions",
    "Delivery",
    "IngestReport",
    "LedgerCheck",
    "LedgerProblem",
    "Outbox",
    "OutboxItem",
    "OutboxItemNotFoundError",
    "OutboxState",
    "PendingReads",
    "PendingWrite",
    "SchemaOutdatedError",
    "Scope",
    "Store",
    "StoreError",
    "SubjectNotFoundError",
    "SubjectView",
    "SyncRunNotFoundError",
    "TokenInfo",
    "Tokens",
    "UnknownPurposeError",
    "UnlinkedObservationError",
    "UnsupportedDatabaseError",
    "Views",
    "WebhookNotice",
    "Webhooks",
    "database_url",
    "redact_url",
]
