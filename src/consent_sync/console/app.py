"""The console application: pages, static assets, and the answers to a missing session
(a redirect to sign-in), a missing CSRF token (403), a bad request (400) and a store that is not
answering (503), all as HTML."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from consent_sync.console.context import ConsoleContext
from consent_sync.console.pages import pages_router
from consent_sync.console.review import review_router
from consent_sync.console.web import HEADERS, CsrfRefused, NotSignedIn, Web

CONSOLE_PREFIX = "/console"
STATIC = Path(__file__).with_name("static")


def create_console(ctx: ConsoleContext) -> FastAPI:
    """The console over `ctx`, to be mounted at CONSOLE_PREFIX (see `mount_console`)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    web = Web(ctx)
    app.state.web = web
    app.include_router(pages_router(web))
    app.include_router(review_router(web))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(NotSignedIn)
    async def sign_in_first(request: Request, _exc: Exception) -> Response:
        return web.redirect(request, "/login")

    @app.exception_handler(CsrfRefused)
    async def refused(request: Request, _exc: Exception) -> Response:
        return web.render(request, "refused.html", None, 403)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, _exc: Exception) -> Response:
        return web.render(request, "invalid.html", None, 400)

    @app.exception_handler(SQLAlchemyError)
    async def store_away(request: Request, _exc: Exception) -> Response:
        return web.render(request, "unavailable.html", None, 503)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return web.render(request, "missing.html", None, 404, what="page")
        return web.render(request, "invalid.html", None, status)

    return app


def mount_console(app: FastAPI, ctx: ConsoleContext) -> FastAPI:
    """Serve the console under /console of the daemon's `app` (and send /console to /console/)."""

    def bare() -> Response:
        return RedirectResponse(CONSOLE_PREFIX + "/", status_code=307, headers=HEADERS)

    app.add_api_route(CONSOLE_PREFIX, bare, include_in_schema=False)
    console = create_console(ctx)
    app.mount(CONSOLE_PREFIX, console)
    return console
