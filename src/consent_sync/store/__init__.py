"""The canonical consent store: tables, transactions, the ledger, the outbox and migrations."""

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
