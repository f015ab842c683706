"""Sign-in and sign-out, the overview, runs, dead letters and the ledger (docs/console.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from consent_sync.console.context import LedgerResult
from consent_sync.console.overview import overview
from consent_sync.console.session import LOGIN_COOKIE, SESSION_COOKIE, csrf_equal, new_secret
from consent_sync.console.web import Web, checked, read_form
from consent_sync.store.errors import OutboxItemNotFoundError, SyncRunNotFoundError

MAX_ID = 2**63 - 1
MAX_TOKEN = 200  # as the API's bearer check
SystemName = Annotated[str | None, Query(max_length=64, pattern="^[A-Za-z0-9_.-]*$")]


def pages_router(web: Web) -> APIRouter:
    """The console's pages other than conflicts and subjects."""
    router = APIRouter()
    ctx = web.ctx

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        """The sign-in form, with a fresh CSRF token of its own (there is no session yet)."""
        return _login_page(web, request)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        """Check the token; on success a session cookie and the overview."""
        form = await read_form(request)
        if not csrf_equal(request.cookies.get(LOGIN_COOKIE), form.get("csrf")):
            return web.render(request, "refused.html", None, 403)
        token = form.get("token", "").strip()
        info = (
            await anyio.to_thread.run_sync(ctx.api.store.tokens.authenticate, token)
            if 0 < len(token) <= MAX_TOKEN
            else None
        )
        if info is None:
            return _login_page(web, request, "That token is not a live token.", 401)
        session = web.sessions.create(token, info.name, info.scope, web.now())
        response = web.redirect(request, "/")
        web.set_cookie(request, response, SESSION_COOKIE, session.id)
        web.forget_cookie(request, response, LOGIN_COOKIE)
        return response

    @router.post("/logout", response_class=HTMLResponse)
    async def logout(request: Request) -> Response:
        """End the session and forget its cookie."""
        session = await anyio.to_thread.run_sync(web.session, request)
        checked(session, await read_form(request))
        web.sessions.drop(session.id)
        response = web.redirect(request, "/login")
        web.forget_cookie(request, response, SESSION_COOKIE)
        return response

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        """Every system's health, backlog and lag; the oldest revocation; the chart."""
        session = web.session(request)
        at = web.now()
        shown = overview(ctx.api.store, dict(ctx.slas), at)
        return web.render(request, "overview.html", session, view=shown, page="overview")

    @router.get("/runs", response_class=HTMLResponse)
    def runs(request: Request, system: SystemName = None) -> Response:
        """Sync runs, newest first, with their counts."""
        session = web.session(request)
        rows = ctx.api.store.browse.runs(system=system or None, kind=None, before=None, limit=100)
        systems = sorted(set(ctx.slas) | set(ctx.api.systems))
        return web.render(
            request, "runs.html", session, runs=rows, systems=systems, system=system, page="runs"
        )

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    def run(request: Request, run_id: Annotated[uuid.UUID, Path()]) -> Response:
        """One run with every record it could not read or write, and why."""
        session = web.session(request)
        try:
            row, rejects = ctx.api.store.browse.run(run_id)
        except SyncRunNotFoundError:
            return web.render(request, "missing.html", session, 404, what="sync run")
        return web.render(request, "run.html", session, run=row, rejects=rejects, page="runs")

    @router.get("/dead", response_class=HTMLResponse)
    def dead(request: Request, retried: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> Response:
        """Writes the systems refused for good, with a retry button each."""
        session = web.session(request)
        items = ctx.api.store.browse.dead_letters(limit=200)
        return web.render(request, "dead.html", session, items=items, retried=retried, page="dead")

    @router.post("/dead/{outbox_id}/retry", response_class=HTMLResponse)
    async def retry(request: Request, outbox_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
        """Queue a dead letter again (write scope); the pushers try it at once."""
        session = await anyio.to_thread.run_sync(web.session, request)
        checked(session, await read_form(request))
        if not session.can_write:
            return web.render(request, "forbidden.html", session, 403)

        def requeue() -> bool:
            try:
                ctx.api.store.browse.dead_letter(outbox_id)
                ctx.api.store.outbox.requeue(outbox_id, web.now())
            except OutboxItemNotFoundError:
                return False
            return True

        if not await anyio.to_thread.run_sync(requeue):
            return web.render(request, "missing.html", session, 404, what="dead letter")
        ctx.api.wake_pushers()
        return web.redirect(request, f"/dead?retried={outbox_id}")

    @router.get("/ledger", response_class=HTMLResponse)
    def ledger(request: Request) -> Response:
        """The last verification of the hash chain, and a button to verify now."""
        session = web.session(request)
        return web.render(
            request, "ledger.html", session, last=ctx.last_verification(), page="ledger"
        )

    @router.post("/ledger/verify", response_class=HTMLResponse)
    async def verify(request: Request) -> Response:
        """Recompute the chain now (any signed-in token: it only reads)."""
        session = await anyio.to_thread.run_sync(web.session, request)
        checked(session, await read_form(request))
        check = await anyio.to_thread.run_sync(ctx.api.store.views.verify_ledger)
        problem = str(check.problem) if check.problem else None
        ctx.verified(LedgerResult(web.now(), check.ok, check.rows, problem, session.name))
        return web.redirect(request, "/ledger")

    return router


def _login_page(web: Web, request: Request, error: str = "", status: int = 200) -> Response:
    csrf = new_secret()
    response = web.render(request, "login.html", None, status, login_csrf=csrf, error=error)
    web.set_cookie(request, response, LOGIN_COOKIE, csrf)
    return response
