"""The canonical consent store: tables, transactions, the ledger, the outbox and migrations."""

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
from consent_sync.store.views import Delivery, PendingWrite, SubjectView, Views

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "Applied",
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
    "PendingWrite",
    "SchemaOutdatedError",
    "Store",
    "StoreError",
    "SubjectNotFoundError",
    "SubjectView",
    "SyncRunNotFoundError",
    "UnknownPurposeError",
    "UnlinkedObservationError",
    "UnsupportedDatabaseError",
    "Views",
    "database_url",
    "redact_url",
]
