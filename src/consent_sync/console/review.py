"""The conflicts queue with resolution, and a person's page (docs/console.md).

A resolution here is what `conflicts resolve` and the API make: a `manual:<token name>` ledger
row with the note as evidence, pushed to every linked system at once (the pushers are woken).
Emails appear in full only on a subject's page; the queue shows pseudonyms.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from consent_sync.api.subjects import subject_out
from consent_sync.console.web import Web, checked, read_form
from consent_sync.domain.identity import IdentityError, normalize_email
from consent_sync.domain.model import ConflictKind, Severity, Status
from consent_sync.store.browse import ConflictFilter
from consent_sync.store.db import read_session
from consent_sync.store.errors import (
    ConflictNotFoundError,
    ConflictNotResolvableError,
    DecisionRefusedError,
    SubjectNotFoundError,
    UnknownPurposeError,
)
from consent_sync.store.tables import ConflictRow, LedgerRow, SubjectRow
from consent_sync.store.types import utc
from consent_sync.store.views import SubjectView, subject_view

MAX_ID = 2**63 - 1
MAX_NOTE = 2000
Name = Annotated[str | None, Query(max_length=64, pattern="^[A-Za-z0-9_.-]*$")]
CONSENT_DECISIONS = ("granted", "denied")
IDENTITY_DECISIONS = ("merge", "keep-apart")


def decisions_for(row: ConflictRow) -> tuple[str, ...]:
    """What on-call may answer a conflict with: a status, or merge/keep-apart for identity."""
    if row.kind == ConflictKind.IDENTITY_AMBIGUOUS.value:
        return IDENTITY_DECISIONS if "other_subject" in row.detail else IDENTITY_DECISIONS[1:]
    return CONSENT_DECISIONS


def review_router(web: Web) -> APIRouter:
    """`/conflicts`, `/conflicts/{id}` (and its resolve form), `/subjects`."""
    router = APIRouter()
    ctx = web.ctx

    @router.get("/conflicts", response_class=HTMLResponse)
    def conflicts(
        request: Request,
        kind: Annotated[str, Query(max_length=32)] = "",
        severity: Annotated[str, Query(max_length=16)] = "",
        system: Name = None,
        purpose: Name = None,
        status: Annotated[str, Query(pattern="^(open|resolved|any)$")] = "open",
        after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    ) -> Response:
        """The queue, oldest first, filtered by kind, severity, system and purpose."""
        session = web.session(request)
        kinds = {k.value: k for k in ConflictKind}
        severities = {s.value: s for s in Severity}
        where = ConflictFilter(
            None if status == "any" else status,
            kinds.get(kind),
            severities.get(severity),
            purpose or None,
            system or None,
        )
        rows = ctx.api.store.browse.conflicts(where, after=after, limit=100)
        return web.render(
            request,
            "conflicts.html",
            session,
            page="conflicts",
            rows=rows,
            kinds=sorted(kinds),
            severities=sorted(severities),
            systems=sorted(set(ctx.slas) | set(ctx.api.systems)),
            purposes=sorted(ctx.api.purposes),
            chosen={
                "kind": kind if kind in kinds else "",
                "severity": severity if severity in severities else "",
                "system": system or "",
                "purpose": purpose or "",
                "status": status,
            },
            next_after=rows[-1].id if len(rows) == 100 else None,
        )

    @router.get("/conflicts/{conflict_id}", response_class=HTMLResponse)
    def conflict(request: Request, conflict_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
        """Both sides, the rule, the raw values and evidence; the resolve form."""
        session = web.session(request)
        try:
            row = ctx.api.store.views.conflict(conflict_id)
        except ConflictNotFoundError:
            return web.render(request, "missing.html", session, 404, what="conflict")
        return _conflict_page(web, request, session, row)

    @router.post("/conflicts/{conflict_id}/resolve", response_class=HTMLResponse)
    async def resolve(
        request: Request, conflict_id: Annotated[int, Path(ge=1, le=MAX_ID)]
    ) -> Response:
        """Settle the conflict as a `manual:<token name>` decision, propagated at once."""
        session = await anyio.to_thread.run_sync(web.session, request)
        form = checked(session, await read_form(request))
        if not session.can_write:
            return web.render(request, "forbidden.html", session, 403)
        decision = form.get("decision", "")
        note = form.get("note", "").strip()

        def settle() -> tuple[ConflictRow | None, str, int]:
            try:
                row = ctx.api.store.views.conflict(conflict_id)
            except ConflictNotFoundError:
                return None, "", 404
            if decision not in decisions_for(row):
                return row, "Choose one of the decisions offered.", 422
            if not note or len(note) > MAX_NOTE:
                return row, f"Say why in the note (1 to {MAX_NOTE} characters).", 422
            try:
                queued = _apply(web, row, decision, note, session.name)
            except (ConflictNotResolvableError, DecisionRefusedError) as exc:
                return row, exc.reason, 409
            except UnknownPurposeError as exc:
                return row, str(exc), 409
            if queued:
                ctx.api.wake_pushers()
            return row, "", 303

        row, error, code = await anyio.to_thread.run_sync(settle)
        if row is None:
            return web.render(request, "missing.html", session, 404, what="conflict")
        if code == 303:
            return web.redirect(request, f"/conflicts/{conflict_id}")
        return _conflict_page(web, request, session, row, error, code)

    @router.get("/subjects", response_class=HTMLResponse)
    def search_form(request: Request) -> Response:
        """Search a person by email (a POST, so the email stays out of URLs)."""
        session = web.session(request)
        return web.render(request, "search.html", session, page="subject", error="")

    @router.post("/subjects", response_class=HTMLResponse)
    async def search(request: Request) -> Response:
        """Find the person; their page is at their subject id."""
        session = await anyio.to_thread.run_sync(web.session, request)
        form = checked(session, await read_form(request))
        try:
            email = normalize_email(form.get("email", "")[:320])
        except IdentityError:
            return web.render(
                request, "search.html", session, 422, page="subject", error="Not an email address."
            )
        try:
            view = await anyio.to_thread.run_sync(ctx.api.store.views.subject, email)
        except SubjectNotFoundError:
            return web.render(
                request, "search.html", session, 404, page="subject", error="Nobody has it."
            )
        return web.redirect(request, f"/subjects/{view.subject.id}")

    @router.get("/subjects/{subject_id}", response_class=HTMLResponse)
    def subject(request: Request, subject_id: Annotated[uuid.UUID, Path()]) -> Response:
        """State per purpose, links, where each revocation landed, the timeline, conflicts."""
        session = web.session(request)
        view = _subject(web, subject_id)
        if view is None:
            return web.render(request, "missing.html", session, 404, what="subject")
        store = ctx.api.store
        shown = subject_out(view, store.browse.applied_revocations(subject_id), ctx.api.purposes)
        rows = store.browse.conflicts(ConflictFilter(subject_id=subject_id), after=0, limit=200)
        return web.render(
            request, "subject.html", session, page="subject", subject=shown, conflicts=rows
        )

    return router


def _apply(web: Web, row: ConflictRow, decision: str, note: str, by: str) -> int:
    """Resolve `row`; the writes queued."""
    api = web.ctx.api
    common: dict[str, Any] = {
        "by": by,
        "note": note,
        "purposes": api.purposes,
        "now": web.now(),
        "targets": api.targets,
    }
    if decision in IDENTITY_DECISIONS:
        merged = api.store.decisions.resolve_identity(
            row.id or 0, merge=decision == "merge", **common
        )
        return merged.queued if merged else 0
    applied = api.store.decisions.resolve_conflict(row.id or 0, Status(decision), **common)
    return applied.queued


def _subject(web: Web, subject_id: uuid.UUID) -> SubjectView | None:
    with read_session(web.ctx.api.store.engine) as session:
        row = session.get(SubjectRow, subject_id)
        return subject_view(session, row) if row is not None else None


def _standing(web: Web, row: ConflictRow) -> LedgerRow | None:
    """The ledger row deciding the conflict's purpose for its subject when it was raised."""
    if row.subject_id is None or row.purpose is None:
        return None
    view = _subject(web, row.subject_id)
    if view is None:
        return None
    before = [
        t
        for t in view.timeline
        if t.purpose == row.purpose
        and (row.resolution_seq is None or t.seq < row.resolution_seq)
        and utc(t.recorded_at) <= utc(row.created_at)
    ]
    return before[-1] if before else None


def _conflict_page(
    web: Web, request: Request, session: Any, row: ConflictRow, error: str = "", code: int = 200
) -> Response:
    return web.render(
        request,
        "conflict.html",
        session,
        code,
        page="conflicts",
        row=row,
        decisions=decisions_for(row),
        standing=_standing(web, row),
        error=error,
    )
