"""The canonical store's tables. Statuses, kinds and states are stored as their string values."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from consent_sync.store.ids import uuid7
from consent_sync.store.types import BigId, UTCDateTime

metadata = SQLModel.metadata

GENESIS_HASH = "0" * 64


class SubjectRow(SQLModel, table=True):
    """A person, identified by normalized email."""

    __tablename__ = "subjects"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)  # time-ordered: ids.py
    email: str = Field(sa_type=String(320), unique=True)
    phone: str | None = Field(default=None, sa_type=String(32), index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class LinkRow(SQLModel, table=True):
    """One CRM record that belongs to a subject."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("system", "object_type", "record_id", name="uq_links_record"),
        Index("ix_links_subject", "subject_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    subject_id: uuid.UUID = Field(foreign_key="subjects.id")
    system: str = Field(sa_type=String(64))
    object_type: str = Field(sa_type=String(64))
    record_id: str = Field(sa_type=String(255))
    email: str | None = Field(default=None, sa_type=String(320))  # the match key last seen
    active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ConsentStateRow(SQLModel, table=True):
    """The canonical status of one (subject, purpose)."""

    __tablename__ = "consent_state"

    subject_id: uuid.UUID = Field(foreign_key="subjects.id", primary_key=True)
    purpose: str = Field(sa_type=String(64), primary_key=True)
    status: str = Field(sa_type=String(16))
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    time_kind: str | None = Field(default=None, sa_type=String(32))
    source: str | None = Field(default=None, sa_type=String(128))
    imported: bool = False
    ledger_seq: int | None = Field(default=None, sa_type=BigId)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class LedgerRow(SQLModel, table=True):
    """One accepted decision; append-only and hash-chained (a trigger refuses UPDATE/DELETE)."""

    __tablename__ = "ledger"
    __table_args__ = (
        Index("ix_ledger_subject_seq", "subject_id", "seq"),
        Index("ix_ledger_recorded_at", "recorded_at"),
    )

    seq: int = Field(primary_key=True, sa_type=BigId, sa_column_kwargs={"autoincrement": False})
    subject_id: uuid.UUID = Field(foreign_key="subjects.id")
    purpose: str = Field(sa_type=String(64))
    status: str = Field(sa_type=String(16))
    previous: str = Field(sa_type=String(16))
    decided_at: datetime = Field(sa_type=UTCDateTime)
    time_kind: str = Field(sa_type=String(32))
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    source: str = Field(sa_type=String(128))
    link: str | None = Field(default=None, sa_type=String(400))
    rule: str = Field(sa_type=String(64))
    evidence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(sa_type=String(64))
    hash: str = Field(sa_type=String(64), unique=True)


class LedgerHeadRow(SQLModel, table=True):
    """The one-row chain head; appends lock it so the chain has a single writer at a time."""

    __tablename__ = "ledger_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(default=0, sa_type=BigId)
    hash: str = Field(default=GENESIS_HASH, sa_type=String(64))


class ShadowRow(SQLModel, table=True):
    """Per (link, purpose): the value last seen in the system and the value last written to it."""

    __tablename__ = "shadows"

    link_id: int = Field(foreign_key="links.id", primary_key=True, sa_type=BigId)
    purpose: str = Field(sa_type=String(64), primary_key=True)
    last_seen: str | None = Field(default=None, sa_type=String(16))
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_written: str | None = Field(default=None, sa_type=String(16))
    last_written_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxRow(SQLModel, table=True):
    """A value to write to one link; at most one pending row per (link, purpose)."""

    __tablename__ = "outbox"
    __table_args__ = (
        # OutboxState.PENDING: this module sits below store/queueing.py, so it spells it out.
        Index(
            "uq_outbox_pending",
            "link_id",
            "purpose",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_outbox_due", "system", "state", "next_attempt_at"),
        Index("ix_outbox_link", "link_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    link_id: int = Field(foreign_key="links.id", sa_type=BigId)
    system: str = Field(sa_type=String(64))
    purpose: str = Field(sa_type=String(64))
    status: str = Field(sa_type=String(16))  # the value to write
    state: str = Field(sa_type=String(16))  # a queueing.OutboxState value
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=String(2000))
    decision_seq: int | None = Field(default=None, sa_type=BigId)
    revoked_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime
    )  # SLA clock start (propagate.clock_start)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class DeliveryRow(SQLModel, table=True):
    """A value applied to a system: when it was decided and when it landed (revocation SLA)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_link", "link_id", "purpose"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    link_id: int = Field(foreign_key="links.id", sa_type=BigId)
    purpose: str = Field(sa_type=String(64))
    status: str = Field(sa_type=String(16))
    decision_seq: int | None = Field(default=None, sa_type=BigId)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    applied_at: datetime = Field(sa_type=UTCDateTime)


class ConflictRow(SQLModel, table=True):
    """A recorded disagreement or failure, open until a human or the system resolves it."""

    __tablename__ = "conflicts"
    __table_args__ = (
        Index("ix_conflicts_status_kind", "status", "kind", "id"),
        Index("ix_conflicts_subject", "subject_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    kind: str = Field(sa_type=String(32))
    severity: str = Field(sa_type=String(16))
    purpose: str | None = Field(default=None, sa_type=String(64))
    subject_id: uuid.UUID | None = Field(default=None, foreign_key="subjects.id")
    link_id: int | None = Field(default=None, foreign_key="links.id", sa_type=BigId)
    link: str | None = Field(default=None, sa_type=String(400))
    sides: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    rule: str = Field(sa_type=String(64))
    message: str = Field(sa_type=String(2000))
    detail: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="open", sa_type=String(16))  # open | resolved
    resolved_by: str | None = Field(default=None, sa_type=String(128))
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_note: str | None = Field(default=None, sa_type=String(2000))
    resolution_seq: int | None = Field(default=None, sa_type=BigId)


class CursorRow(SQLModel, table=True):
    """The incremental-sync watermark of one (system, object)."""

    __tablename__ = "cursors"

    system: str = Field(sa_type=String(64), primary_key=True)
    object_type: str = Field(sa_type=String(64), primary_key=True)
    watermark: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    #: An opaque token the connector resumes its next pull from (a change-tracking link).
    resume_token: str | None = Field(default=None, sa_type=Text)


class LeaseRow(SQLModel, table=True):
    """A time-limited claim on a unit of work, so replicas never double-run it."""

    __tablename__ = "leases"

    name: str = Field(sa_type=String(200), primary_key=True)
    acquired_by: str = Field(sa_type=String(200))
    acquired_until: datetime = Field(sa_type=UTCDateTime)


class SyncRunRow(SQLModel, table=True):
    """One pull, push or sweep of one system, with counts and the error that ended it."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_system_started", "system", "started_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    system: str = Field(sa_type=String(64))
    kind: str = Field(sa_type=String(16))  # pull | push | sweep
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, sa_type=String(2000))
    runner: str | None = Field(default=None, sa_type=String(128))  # the daemon replica's holder id


class ApiTokenRow(SQLModel, table=True):
    """An API bearer token: its name, scope and SHA-256 hash (the token itself is never kept)."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        # One live token per name; revoked ones stay listed for the record.
        Index(
            "uq_api_tokens_live_name",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    name: str = Field(sa_type=String(64))
    scope: str = Field(sa_type=String(16))  # a tokens.Scope value
    token_hash: str = Field(sa_type=String(64), unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdempotencyKeyRow(SQLModel, table=True):
    """A request made with an `Idempotency-Key`: its body's hash and the answer it got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created", "created_at"),)

    token_name: str = Field(sa_type=String(64), primary_key=True)
    key: str = Field(sa_type=String(255), primary_key=True)
    request_hash: str = Field(sa_type=String(64))
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)


class WebhookEventRow(SQLModel, table=True):
    """A webhook event already queued, by its key: a redelivery of it queues nothing new."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_received", "received_at"),)

    system: str = Field(sa_type=String(64), primary_key=True)
    event_key: str = Field(sa_type=String(200), primary_key=True)
    received_at: datetime = Field(sa_type=UTCDateTime)


class NamedReadRow(SQLModel, table=True):
    """A record a webhook named, waiting for its system's targeted read; removed once read."""

    __tablename__ = "named_reads"
    __table_args__ = (Index("ix_named_reads_queued", "system", "queued_at"),)

    system: str = Field(sa_type=String(64), primary_key=True)
    object_type: str = Field(sa_type=String(64), primary_key=True)
    record_id: str = Field(sa_type=String(255), primary_key=True)
    deleted: bool = False  # a deletion named it
    generation: int = 1  # bumped when named again, so a read in flight does not remove it
    queued_at: datetime = Field(sa_type=UTCDateTime)


# The Core tables behind the models, for bulk statements on hot paths.
SUBJECTS = metadata.tables["subjects"]
LINKS = metadata.tables["links"]
CONSENT_STATE = metadata.tables["consent_state"]
LEDGER = metadata.tables["ledger"]
LEDGER_HEAD = metadata.tables["ledger_head"]
SHADOWS = metadata.tables["shadows"]
OUTBOX = metadata.tables["outbox"]
CONFLICTS = metadata.tables["conflicts"]
