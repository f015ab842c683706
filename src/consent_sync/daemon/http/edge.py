"""The HTTP edge: what stands between the network and the daemon's handlers.

Whatever a client sends, the answer is a status with a JSON body `{"code": ..., "message": ...}`:
a 4xx for a request the daemon will not take, 503 when the daemon itself cannot serve (its store
away, too many connections), never a 500 with a traceback. A request's body must arrive within
`BODY_TIMEOUT_S` and its headers within `HEADER_TIMEOUT_S` of the connection opening (or of the
previous response), and at most `MAX_CONNECTIONS` connections are served at once, so clients
that trickle bytes cannot hold the server. A client that goes away mid-request is one quiet line.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from consent_sync.errors import ConsentSyncError
from consent_sync.logs import brief, bug_traceback

log = structlog.get_logger(__name__)

BODY_TIMEOUT_S = 10.0  # HubSpot gives up on a delivery after 5 s
HEADER_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 200  # beyond it uvicorn answers 503 at once


class BodyTimeout(ConsentSyncError):
    """A request's body did not arrive within `BODY_TIMEOUT_S`."""


def error_response(status: int, code: str, message: str, *, close: bool = False) -> JSONResponse:
    """The edge's error answer: `{"code": ..., "message": ...}`; `close` ends the connection."""
    headers = {"connection": "close"} if close else None
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else _code(exc.status_code)
    return error_response(exc.status_code, _code(exc.status_code), message)


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Where and what, never the offending value (it may be an email or a token).
    problems = [
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in exc.errors()[:10]
    ]
    return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")


def install_error_handlers(app: FastAPI) -> None:
    """JSON `{"code", "message"}` for FastAPI's own errors, and the `EdgeGuard` around the app."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(EdgeGuard)


class EdgeGuard:
    """ASGI middleware: a deadline on the request body, and every escaping exception answered.

    A body past its deadline is 408 (and the connection closed); the store unavailable is 503;
    anything else a handler raises is 400, logged (a bug with its traceback, redacted). A client
    that disconnected gets nothing and costs one info line.
    """

    def __init__(self, app: ASGIApp, body_timeout: float = BODY_TIMEOUT_S) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        body_read = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_read
            if body_read:  # after the body only a disconnect can come: no deadline on waiting
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                late = f"request body not received within {self.body_timeout:g} s"
                raise BodyTimeout(late) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except ClientDisconnect:
            log.info("client disconnected", path=scope.get("path"))
        except Exception as exc:
            response = self._answer(scope, exc)
            if started:
                log.info("response abandoned", path=scope.get("path"), error=brief(exc))
            else:
                await response(scope, receive, send)

    @staticmethod
    def _answer(scope: Scope, exc: Exception) -> Any:
        path = scope.get("path")
        if isinstance(exc, BodyTimeout):
            log.info("request body too slow", path=path)
            return error_response(408, "body_timeout", str(exc), close=True)
        if isinstance(exc, SQLAlchemyError):
            log.warning("store unavailable for a request", path=path, error=brief(exc))
            return error_response(503, "unavailable", "the store is unavailable; retry later")
        log.error("request failed", path=path, error=brief(exc), **bug_traceback(exc))
        return error_response(400, "bad_request", "the request could not be handled")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on a request's headers.

    uvicorn times out an idle kept-alive connection but not one that was opened and then sent
    nothing or trickled its headers; this closes such a connection after `HEADER_TIMEOUT_S`.
    """

    _header_timer: asyncio.TimerHandle | None = None
    _awaiting: object = None  # the request cycle current when the deadline was armed

    def _arm(self) -> None:
        self._disarm()
        self._awaiting = self.cycle
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.cycle is self._awaiting and not self.transport.is_closing():
            log.info("request headers too slow; connection closed")
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.cycle is not self._awaiting:
            self._disarm()  # a new request's headers arrived

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()  # before pipelined requests are handled, so they disarm it
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
