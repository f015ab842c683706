"""Routes that read or make decisions: subjects, consents, conflicts (docs/api.md).

A decision recorded here goes through the same rule as `consent-sync consent record`: source
`api:<token name>`, time kind `asserted`, the evidence exactly as the client sent it; a grant
the rule blocks is refused (422 `decision_refused`) and nothing is written. A conflict resolved
here is a `manual:<token name>` decision, as `conflicts resolve --by` makes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from types import MappingProxyType
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query

from consent_sync.api.auth import require
from consent_sync.api.context import ApiContext
from consent_sync.api.errors import ApiError
from consent_sync.api.schemas import (
    ConflictOut,
    ConflictPage,
    ConflictRef,
    ConsentIn,
    ConsentOut,
    EvidenceIn,
    ResolveIn,
    ResolveOut,
    SubjectOut,
)
from consent_sync.api.subjects import subject_out
from consent_sync.domain.identity import IdentityError, normalize_email
from consent_sync.domain.model import (
    ConflictKind,
    Evidence,
    Observation,
    Severity,
    Status,
    TimeKind,
)
from consent_sync.store import Applied
from consent_sync.store.browse import ConflictFilter
from consent_sync.store.errors import (
    ConflictNotFoundError,
    ConflictNotResolvableError,
    DecisionRefusedError,
    SubjectNotFoundError,
    UnknownPurposeError,
)
from consent_sync.store.tables import ConflictRow
from consent_sync.store.tokens import IdempotencyKeyReusedError, Scope, TokenInfo

MAX_ID = 2**63 - 1
ConflictId = Annotated[int, Path(ge=1, le=MAX_ID, description="The conflict's id.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retries with the same key and body record once and get the first answer.",
    ),
]
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Writer = Annotated[TokenInfo, Depends(require(Scope.WRITE))]


class FairLock:
    """A lock handed to its waiters in arrival order, so no request waits behind later ones."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # the holder hands the lock over: `_held` stays True

    def __exit__(self, *_: object) -> None:
        with self._guard:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


def _email(raw: str) -> str:
    try:
        return normalize_email(raw)
    except IdentityError:
        raise ApiError(422, "invalid_email", "email is not a valid email address") from None


def evidence_of(body: EvidenceIn, source: str, now: Any) -> Evidence:
    """The client's evidence as the ledger keeps it; a capture time in the future is refused."""
    captured = body.captured_at
    if captured is not None:
        if captured.tzinfo is None:
            raise ApiError(422, "validation_failed", "evidence.captured_at needs a UTC offset")
        if captured > now:
            raise ApiError(422, "validation_failed", "evidence.captured_at is in the future")
    return Evidence(
        source=source,
        collection_method=body.collection_method,
        legal_basis=body.legal_basis,
        notice_ref=body.notice_ref,
        notice_version=body.notice_version,
        actor=body.actor,
        captured_at=captured,
        jurisdiction=body.jurisdiction,
        note=body.note,
        extra=MappingProxyType(dict(sorted(body.extra.items()))),
    )


def consent_out(applied: Applied, purpose: str, status: str) -> dict[str, Any]:
    """What a recorded (or unchanged) decision did, as JSON-ready data."""
    found = [c for r in applied.resolutions for c in r.conflicts]
    outcomes = sorted({v.outcome for r in applied.resolutions for v in r.verdicts})
    return ConsentOut(
        subject_id=applied.subject_id,
        purpose=purpose,
        status=status,
        recorded=bool(applied.ledger_seqs),
        outcome=",".join(outcomes) or "no_change",
        ledger_seqs=list(applied.ledger_seqs),
        queued=applied.queued,
        conflicts=[
            ConflictRef(id=cid, kind=c.kind.value, message=c.message)
            for cid, c in zip(applied.conflict_ids, found, strict=True)
        ],
    ).model_dump(mode="json")


def conflict_out(row: ConflictRow) -> ConflictOut:
    """A conflict row as the API shows it."""
    return ConflictOut(
        id=row.id or 0,
        kind=row.kind,
        severity=row.severity,
        status=row.status,
        purpose=row.purpose,
        subject_id=row.subject_id,
        link=row.link,
        sides=row.sides,
        rule=row.rule,
        message=row.message,
        detail=row.detail,
        created_at=row.created_at,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        resolution_note=row.resolution_note,
        resolution_seq=row.resolution_seq,
    )


def decisions_router(ctx: ApiContext) -> APIRouter:
    """`/api/v1/subjects`, `/api/v1/consents` and `/api/v1/conflicts` over `ctx`."""
    router = APIRouter(prefix="/api/v1")
    # SQLite has one writer: requests queue on this lock in turn instead of polling the file
    # lock in SQLite's busy handler, whose growing sleeps make the slowest request very slow.
    writing: AbstractContextManager[None] = (
        FairLock() if ctx.store.engine.dialect.name == "sqlite" else nullcontext()
    )

    @router.get("/subjects", response_model=SubjectOut, tags=["subjects"])
    def get_subject(
        _token: Reader,
        email: Annotated[
            str,
            Query(
                min_length=3,
                max_length=320,
                description="The person's email address.",
                json_schema_extra={"format": "email"},
            ),
        ],
    ) -> SubjectOut:
        """One person by email: state per purpose, links, revocations applied, the timeline."""
        try:
            view = ctx.store.views.subject(_email(email))
        except SubjectNotFoundError:
            raise ApiError(404, "not_found", "no subject has this email") from None
        applied = ctx.store.browse.applied_revocations(view.subject.id)
        return subject_out(view, applied, ctx.purposes)

    @router.post("/consents", response_model=ConsentOut, tags=["consents"])
    def record_consent(
        body: ConsentIn, token: Writer, idempotency_key: IdempotencyKey = None
    ) -> dict[str, Any]:
        """Record a person's decision with its evidence; it propagates to every linked system."""
        email = _email(body.email)
        purpose = ctx.purposes.get(body.purpose)
        if purpose is None:
            raise ApiError(422, "unknown_purpose", f"purpose {body.purpose!r} is not defined")
        now = ctx.clock()
        source = f"api:{token.name}"
        observation = Observation(
            source,
            None,
            purpose.name,
            Status(body.status),
            now,
            TimeKind.ASSERTED,
            evidence_of(body.evidence, source, now),
        )

        def answer(applied: Applied) -> dict[str, Any]:
            return consent_out(applied, purpose.name, body.status)

        try:
            with writing:
                if idempotency_key is None:
                    applied = ctx.store.decisions.record(
                        email, observation, {purpose.name: purpose}, now, ctx.targets
                    )
                    response, replayed = answer(applied), False
                else:
                    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True)
                    response, replayed = ctx.store.tokens.record_once(
                        token_name=token.name,
                        key=idempotency_key,
                        request_hash=hashlib.sha256(f"consents {canonical}".encode()).hexdigest(),
                        email=email,
                        observation=observation,
                        purposes={purpose.name: purpose},
                        now=now,
                        targets=ctx.targets,
                        answer=answer,
                    )
        except DecisionRefusedError as exc:
            raise ApiError(422, "decision_refused", exc.reason) from None
        except IdempotencyKeyReusedError as exc:
            raise ApiError(422, "idempotency_key_reused", str(exc)) from None
        if response.get("queued") and not replayed:
            ctx.wake_pushers()
        return response

    @router.get("/conflicts", response_model=ConflictPage, tags=["conflicts"])
    def list_conflicts(
        _token: Reader,
        status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
        kind: ConflictKind | None = None,
        severity: Severity | None = None,
        purpose: Annotated[str | None, Query(max_length=64, pattern="^[A-Za-z0-9_.-]+$")] = None,
        system: Annotated[str | None, Query(max_length=64, pattern="^[A-Za-z0-9_.-]+$")] = None,
        after: Annotated[int, Query(ge=0, le=MAX_ID, description="Ids above this.")] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> ConflictPage:
        """Conflicts oldest first, filtered, a page at a time."""
        where = ConflictFilter(status, kind, severity, purpose, system)
        rows = ctx.store.browse.conflicts(where, after=after, limit=limit)
        items = [conflict_out(row) for row in rows]
        return ConflictPage(items=items, next_after=items[-1].id if len(items) == limit else None)

    @router.get("/conflicts/{conflict_id}", response_model=ConflictOut, tags=["conflicts"])
    def show_conflict(_token: Reader, conflict_id: ConflictId) -> ConflictOut:
        """Everything recorded about one conflict: both sides, the rule, the resolution."""
        try:
            return conflict_out(ctx.store.views.conflict(conflict_id))
        except ConflictNotFoundError:
            raise ApiError(404, "not_found", f"no conflict with id {conflict_id}") from None

    @router.post("/conflicts/{conflict_id}/resolve", response_model=ResolveOut, tags=["conflicts"])
    def resolve_conflict(token: Writer, conflict_id: ConflictId, body: ResolveIn) -> ResolveOut:
        """Settle a conflict with a decision and a note: a `manual:<token name>` ledger row."""
        try:
            applied = ctx.store.decisions.resolve_conflict(
                conflict_id,
                Status(body.status),
                by=token.name,
                note=body.note,
                purposes=ctx.purposes,
                now=ctx.clock(),
                targets=ctx.targets,
            )
            row = ctx.store.views.conflict(conflict_id)
        except ConflictNotFoundError:
            raise ApiError(404, "not_found", f"no conflict with id {conflict_id}") from None
        except ConflictNotResolvableError as exc:
            raise ApiError(409, "conflict_not_resolvable", exc.reason) from None
        except UnknownPurposeError as exc:  # the configuration no longer defines its purpose
            raise ApiError(409, "conflict_not_resolvable", str(exc)) from None
        except DecisionRefusedError as exc:
            raise ApiError(422, "decision_refused", exc.reason) from None
        if applied.queued:
            ctx.wake_pushers()
        decision = consent_out(applied, row.purpose or "", body.status)
        return ResolveOut(conflict=conflict_out(row), decision=ConsentOut(**decision))

    return router
