"""What every console page shares: templates, the signed-in check, forms with their CSRF token,
and the response headers that keep the pages to themselves.

Links and redirects are built from the mount point (`root_path`), never from the Host header,
so a forged Host cannot send a browser elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from consent_sync.console.context import ConsoleContext
from consent_sync.console.session import SESSION_COOKIE, Session, Sessions
from consent_sync.errors import ConsentSyncError
from consent_sync.redaction import redact_text
from consent_sync.status import duration

MAX_FORM_BYTES = 16 * 1024  # a note and a few fields
HEADERS = {
    # No script at all; styles and images only from the console itself.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class NotSignedIn(ConsentSyncError):
    """The request has no live session: answered with a redirect to the sign-in page."""


class CsrfRefused(ConsentSyncError):
    """A form post without this session's CSRF token: answered 403."""


def when(value: datetime | None) -> str:
    """A time as on-call reads it: UTC, to the second."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty(value: Any) -> str:
    """JSON for a <pre>, emails shown as pseudonyms (pages other than a subject's)."""
    return redact_text(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def plain(value: Any) -> str:
    """JSON for a <pre>, as recorded (a subject's own page)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("consent_sync.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["pretty"] = pretty
    env.filters["plain"] = plain
    env.filters["redact"] = redact_text
    return env


class Web:
    """Templates and sessions of one console."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self.sessions = Sessions()
        self.templates = _environment()

    def now(self) -> datetime:
        return self.ctx.api.clock()

    def root(self, request: Request) -> str:
        """The console's path prefix (where it is mounted), for links and redirects."""
        return str(request.scope.get("root_path", "")).rstrip("/")

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        status_code: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        """A page, with the headers every console response carries."""
        html = self.templates.get_template(template).render(
            root=self.root(request),
            session=session,
            csrf=session.csrf if session else "",
            now=self.now(),
            **values,
        )
        return HTMLResponse(html, status_code=status_code, headers=HEADERS)

    def redirect(self, request: Request, path: str) -> RedirectResponse:
        """303 to a console path: a path-only Location, never a host."""
        return RedirectResponse(self.root(request) + path, status_code=303, headers=HEADERS)

    def session(self, request: Request) -> Session:
        """The request's live session, its token still live; NotSignedIn otherwise."""
        cookie = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(cookie, self.now())
        if session is None:
            raise NotSignedIn
        info = self.ctx.api.store.tokens.authenticate(session.token)
        if info is None:  # revoked since sign-in
            self.sessions.drop(session.id)
            raise NotSignedIn
        session.scope = info.scope
        return session

    def set_cookie(self, request: Request, response: Response, name: str, value: str) -> None:
        """A console cookie: HttpOnly, SameSite=Strict, Secure over TLS, scoped to the console."""
        response.set_cookie(
            name,
            value,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=self.root(request) or "/",
        )

    def forget_cookie(self, request: Request, response: Response, name: str) -> None:
        """Tell the browser to drop a console cookie."""
        response.delete_cookie(
            name,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=self.root(request) or "/",
        )


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the first value of each); {} when it is not one or too big."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    fields = parse_qs(text, keep_blank_values=True, max_num_fields=50)
    return {key: values[0] for key, values in fields.items() if values}


def checked(session: Session, form: Mapping[str, str]) -> Mapping[str, str]:
    """The form, if it carries the session's CSRF token; CsrfRefused otherwise."""
    if not session.csrf_ok(form.get("csrf")):
        raise CsrfRefused
    return form
