"""Routes for on-call: sync runs, connected systems, dead letters (docs/api.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from consent_sync.api.auth import require
from consent_sync.api.context import ApiContext
from consent_sync.api.errors import ApiError
from consent_sync.api.schemas import (
    CursorOut,
    DeadLetterOut,
    DeadLetterPage,
    QuotaOut,
    RejectOut,
    RetryOut,
    RunDetail,
    RunOut,
    RunPage,
    SystemList,
    SystemOut,
)
from consent_sync.store.browse import DeadLetter
from consent_sync.store.errors import OutboxItemNotFoundError, SyncRunNotFoundError
from consent_sync.store.tables import SyncRunRow
from consent_sync.store.tokens import Scope, TokenInfo

MAX_ID = 2**63 - 1
Reader = Annotated[TokenInfo, Depends(require(Scope.READ))]
Admin = Annotated[TokenInfo, Depends(require(Scope.ADMIN))]
SystemName = Annotated[str | None, Query(max_length=64, pattern="^[A-Za-z0-9_.-]+$")]
RUN_KINDS = "^(cycle|pull|push|sweep|webhook)$"


def run_out(row: SyncRunRow) -> RunOut:
    """A sync run as the API shows it."""
    return RunOut(
        id=row.id,
        system=row.system,
        kind=row.kind,
        started_at=row.started_at,
        finished_at=row.finished_at,
        counts=dict(row.counts),
        error=row.error,
        runner=row.runner,
    )


def dead_out(item: DeadLetter) -> DeadLetterOut:
    """A dead letter as the API shows it."""
    return DeadLetterOut(
        id=item.id,
        system=item.system,
        link=str(item.link),
        purpose=item.purpose,
        status=item.status,
        attempts=item.attempts,
        last_error=item.last_error,
        revoked_at=item.revoked_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def operations_router(ctx: ApiContext) -> APIRouter:
    """`/api/v1/runs`, `/api/v1/systems` and `/api/v1/outbox` over `ctx`."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/runs", response_model=RunPage, tags=["runs"])
    def list_runs(
        _token: Reader,
        system: SystemName = None,
        kind: Annotated[str | None, Query(pattern=RUN_KINDS)] = None,
        before: Annotated[datetime | None, Query(description="Runs started before this.")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> RunPage:
        """Sync runs newest first, a page at a time."""
        if before is not None and before.tzinfo is None:
            raise ApiError(422, "validation_failed", "before needs a UTC offset")
        rows = ctx.store.browse.runs(system=system, kind=kind, before=before, limit=limit)
        items = [run_out(row) for row in rows]
        return RunPage(
            items=items, next_before=items[-1].started_at if len(items) == limit else None
        )

    @router.get("/runs/{run_id}", response_model=RunDetail, tags=["runs"])
    def show_run(_token: Reader, run_id: Annotated[uuid.UUID, Path()]) -> RunDetail:
        """One run with the records it could not read or write, and why."""
        try:
            row, rejects = ctx.store.browse.run(run_id)
        except SyncRunNotFoundError:
            raise ApiError(404, "not_found", f"no sync run with id {run_id}") from None
        return RunDetail(
            **run_out(row).model_dump(),
            rejects=[
                RejectOut(
                    conflict_id=c.id or 0,
                    kind=c.kind,
                    link=c.link,
                    purpose=c.purpose,
                    reason=c.message,
                )
                for c in rejects
            ],
        )

    @router.get("/systems", response_model=SystemList, tags=["systems"])
    def list_systems(_token: Reader) -> SystemList:
        """Each connected system: last runs, cursor lag, backlog, quota."""
        now = ctx.clock()
        latest = ctx.store.browse.latest_runs()
        backlog = ctx.store.views.backlog()
        cursors = ctx.store.views.cursors()
        names = sorted(set(ctx.systems) | {system for system, _ in latest})
        items = []
        for name in names:
            runs = {kind: run_out(row) for (system, kind), row in latest.items() if system == name}
            owed = backlog.get(name)
            quota = ctx.quota(name)
            failing = any(run.error for run in runs.values())
            items.append(
                SystemOut(
                    name=name,
                    status="unknown" if not runs else "failing" if failing else "ok",
                    last_runs=runs,
                    cursors=[
                        CursorOut(
                            object_type=object_type,
                            watermark=watermark,
                            lag_s=max((now - watermark).total_seconds(), 0.0),
                        )
                        for (system, object_type), watermark in sorted(cursors.items())
                        if system == name
                    ],
                    outbox_pending=owed.pending if owed else 0,
                    dead_letters=owed.dead if owed else 0,
                    oldest_unapplied_revocation_s=(
                        (now - owed.oldest_revocation).total_seconds()
                        if owed and owed.oldest_revocation
                        else None
                    ),
                    quota=(
                        QuotaOut(used=quota.used, limit=quota.limit, share_used=quota.share_used)
                        if quota is not None
                        else None
                    ),
                )
            )
        return SystemList(items=items)

    @router.get("/outbox/dead", response_model=DeadLetterPage, tags=["outbox"])
    def list_dead_letters(
        _token: Reader,
        system: SystemName = None,
        after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> DeadLetterPage:
        """Writes the systems refused for good, oldest first."""
        rows = ctx.store.browse.dead_letters(system=system, after=after, limit=limit)
        items = [dead_out(row) for row in rows]
        return DeadLetterPage(items=items, next_after=items[-1].id if len(items) == limit else None)

    @router.post("/outbox/{outbox_id}/retry", response_model=RetryOut, tags=["outbox"])
    def retry_dead_letter(
        _token: Admin, outbox_id: Annotated[int, Path(ge=1, le=MAX_ID)]
    ) -> RetryOut:
        """Queue a dead-lettered write again; the pushers try it at once."""
        try:
            ctx.store.browse.dead_letter(outbox_id)
            ctx.store.outbox.requeue(outbox_id, ctx.clock())
        except OutboxItemNotFoundError:
            raise ApiError(404, "not_found", f"no dead letter with id {outbox_id}") from None
        ctx.wake_pushers()
        return RetryOut(id=outbox_id, requeued=True)

    return router
