"""What the store refuses, typed and with the context an operator needs."""

from __future__ import annotations

import uuid

from consent_sync.errors import ConsentSyncError


class StoreError(ConsentSyncError):
    """Base of every error the canonical store raises on purpose."""


class UnsupportedDatabaseError(StoreError):
    """The database URL names something other than SQLite or PostgreSQL."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        super().__init__(f"{backend!r} is not supported: use sqlite:/// or postgresql+psycopg://")


class UnknownPurposeError(StoreError):
    """An observation names a purpose the configuration does not define."""

    def __init__(self, purpose: str) -> None:
        self.purpose = purpose
        super().__init__(f"purpose {purpose!r} is not defined in mappings/purposes.yaml")


class UnlinkedObservationError(StoreError):
    """Ingestion got an observation with no CRM record behind it (use `store.decisions.record`)."""

    def __init__(self, source: str, purpose: str) -> None:
        self.source, self.purpose = source, purpose
        super().__init__(f"observation of {purpose!r} from {source!r} has no link to ingest by")


class SubjectNotFoundError(StoreError):
    """No subject has this email."""

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"no subject with email {email}")


class ConflictNotFoundError(StoreError):
    """No conflict has this id."""

    def __init__(self, conflict_id: int) -> None:
        self.conflict_id = conflict_id
        super().__init__(f"no conflict with id {conflict_id}")


class ConflictNotResolvableError(StoreError):
    """A conflict that is already resolved, or has no subject and purpose to decide for."""

    def __init__(self, conflict_id: int, reason: str) -> None:
        self.conflict_id, self.reason = conflict_id, reason
        super().__init__(f"conflict {conflict_id} cannot be resolved: {reason}")


class OutboxItemNotFoundError(StoreError):
    """No outbox row has this id (it was written, coalesced away or its link ended)."""

    def __init__(self, outbox_id: int) -> None:
        self.outbox_id = outbox_id
        super().__init__(f"no outbox row with id {outbox_id}")


class SyncRunNotFoundError(StoreError):
    """No sync run has this id."""

    def __init__(self, run_id: uuid.UUID) -> None:
        self.run_id = run_id
        super().__init__(f"no sync run with id {run_id}")


class DecisionRefusedError(StoreError):
    """A manual decision the rule would not apply (e.g. a grant over a denial without the
    evidence its purpose requires); nothing was recorded."""

    def __init__(self, purpose: str, reason: str) -> None:
        self.purpose, self.reason = purpose, reason
        super().__init__(f"refused: {purpose}: {reason}")
