"""The request and response bodies of /api/v1, as pydantic models (and so the OpenAPI schemas).

Request models refuse unknown fields (`extra="forbid"`): a typo in a preference centre's
payload is a 422 naming the field, never evidence silently dropped. Free text refuses NUL and
is length-capped, so nothing a client sends can fail in the database.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: Free text: no NUL (PostgreSQL refuses it in text), bounded.
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
LegalBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interest",
    "non_gdpr",
]


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


# -- errors ---------------------------------------------------------------------------------


class FieldProblem(Answer):
    """One thing wrong with a request: where (`loc`) and what."""

    loc: list[str | int]
    message: str
    type: str


class ErrorBody(Answer):
    """Every error: a stable machine-readable `code` and a message for people."""

    code: str = Field(description="Stable error code, e.g. unauthorized, validation_failed.")
    message: str
    problems: list[FieldProblem] = Field(default_factory=list)


# -- consents -------------------------------------------------------------------------------


class EvidenceIn(Strict):
    """Proof of the decision, as the client recorded it (ISO/IEC TS 27560 terms).

    Nothing here is filled in by consent-sync: what is left out stays out of the ledger.
    """

    legal_basis: LegalBasis | None = None
    notice_ref: Short | None = Field(None, description="The privacy notice or policy shown.")
    notice_version: Short | None = None
    collection_method: Short | None = Field(None, description="e.g. preference_centre.")
    actor: Short | None = Field(None, description="Who acted: the subject, an agent, ...")
    jurisdiction: Short | None = Field(None, description="e.g. EU, US-CA.")
    captured_at: datetime | None = Field(None, description="When the person decided (past).")
    note: Text | None = None
    extra: dict[Name, Short] = Field(default_factory=dict, max_length=20)


class ConsentIn(Strict):
    """A person's decision about one purpose, made outside any CRM."""

    email: Annotated[str, StringConstraints(min_length=3, max_length=320)] = Field(
        json_schema_extra={"format": "email"}
    )
    purpose: Name = Field(description="A purpose of mappings/purposes.yaml.")
    status: Literal["granted", "denied"]
    evidence: EvidenceIn = Field(default_factory=EvidenceIn)


class ConflictRef(Answer):
    """A conflict the rule recorded."""

    id: int
    kind: str
    message: str


class ConsentOut(Answer):
    """What recording a decision did."""

    subject_id: uuid.UUID
    purpose: str
    status: str
    recorded: bool = Field(description="False when the store already held this decision.")
    outcome: str = Field(description="What the rule concluded: applied, agreement, ...")
    ledger_seqs: list[int]
    queued: int = Field(description="Writes queued to linked CRM records.")
    conflicts: list[ConflictRef]


# -- subjects -------------------------------------------------------------------------------


class StateOut(Answer):
    """The canonical state of one purpose, and what kind of grant it is."""

    purpose: str
    status: str = Field(description="granted, not_opted_out, denied or unknown.")
    kind: Literal["explicit_grant", "no_objection", "denial", "unknown"]
    explicit: bool
    permitted: bool | None = Field(description="May be contacted, under the purpose's regime.")
    regime: str | None
    decided_at: datetime | None
    time_kind: str | None
    source: str | None
    imported: bool
    ledger_seq: int | None


class LinkOut(Answer):
    """One CRM record of the subject."""

    system: str
    object_type: str
    record_id: str
    active: bool
    linked_at: datetime
    ended_at: datetime | None


class AppliedOut(Answer):
    """A revocation as written to one record."""

    system: str
    link: str
    applied_at: datetime
    time_to_apply_s: float | None


class RevocationOut(Answer):
    """A denial in the ledger and when each linked system applied it."""

    ledger_seq: int
    purpose: str
    decided_at: datetime
    source: str
    applied: list[AppliedOut]


class PendingOut(Answer):
    """A write still owed to one record."""

    link: str
    purpose: str
    status: str
    state: str
    attempts: int
    last_error: str | None


class TimelineOut(Answer):
    """One ledger row: a decision with its evidence."""

    seq: int
    purpose: str
    previous: str
    status: str
    decided_at: datetime
    time_kind: str
    recorded_at: datetime
    source: str
    link: str | None
    rule: str
    evidence: dict[str, Any]


class SubjectOut(Answer):
    """Everything the store knows about one person."""

    id: uuid.UUID
    email: str
    created_at: datetime
    state: list[StateOut]
    links: list[LinkOut]
    revocations: list[RevocationOut]
    pending_writes: list[PendingOut]
    timeline: list[TimelineOut]


# -- conflicts ------------------------------------------------------------------------------


class ConflictOut(Answer):
    """A recorded disagreement or failure (the subject by id: listings carry no emails)."""

    id: int
    kind: str
    severity: str
    status: str
    purpose: str | None
    subject_id: uuid.UUID | None
    link: str | None
    sides: list[dict[str, Any]]
    rule: str
    message: str
    detail: dict[str, Any]
    created_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None
    resolution_seq: int | None


class ConflictPage(Answer):
    """One page of conflicts; pass `next_after` as `after` for the next."""

    items: list[ConflictOut]
    next_after: int | None


class ResolveIn(Strict):
    """A human's decision settling a conflict."""

    status: Literal["granted", "denied"]
    note: Text


class ResolveOut(Answer):
    """The resolved conflict and the decision that settled it."""

    conflict: ConflictOut
    decision: ConsentOut


# -- runs, systems, outbox ------------------------------------------------------------------


class RunOut(Answer):
    """One pull, push, sweep or webhook read of one system."""

    id: uuid.UUID
    system: str
    kind: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    error: str | None
    runner: str | None = Field(
        description=(
            "The daemon replica that ran it (its lease holder id); null for a one-shot sync and"
            " for runs recorded before schema 0006."
        )
    )


class RunPage(Answer):
    """Runs newest first; pass `next_before` as `before` for older ones."""

    items: list[RunOut]
    next_before: datetime | None


class RejectOut(Answer):
    """One record the run could not read or write as asked, and why."""

    conflict_id: int
    kind: str
    link: str | None
    purpose: str | None
    reason: str


class RunDetail(RunOut):
    """A run with its per-record rejections."""

    rejects: list[RejectOut]


class QuotaOut(Answer):
    """API quota as the CRM last reported it."""

    used: int | None
    limit: int | None
    share_used: float | None


class CursorOut(Answer):
    """How far one object's incremental sync is behind."""

    object_type: str
    watermark: datetime
    lag_s: float


class SystemOut(Answer):
    """One connected system: its last runs, lag, backlog and quota."""

    name: str
    status: Literal["ok", "failing", "unknown"]
    last_runs: dict[str, RunOut]
    cursors: list[CursorOut]
    outbox_pending: int
    dead_letters: int
    oldest_unapplied_revocation_s: float | None
    quota: QuotaOut | None


class SystemList(Answer):
    """Every connected system."""

    items: list[SystemOut]


class DeadLetterOut(Answer):
    """A write a system refused for good."""

    id: int
    system: str
    link: str
    purpose: str
    status: str
    attempts: int
    last_error: str | None
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeadLetterPage(Answer):
    """One page of dead letters; pass `next_after` as `after` for the next."""

    items: list[DeadLetterOut]
    next_after: int | None


class RetryOut(Answer):
    """A dead letter queued again."""

    id: int
    requeued: bool
