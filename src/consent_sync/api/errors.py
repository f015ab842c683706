"""Errors of /api/v1: every one is JSON `{"code", "message", "problems"}` with a stable code.

Codes (docs/api.md lists them): `malformed_body` 400, `unauthorized` 401, `forbidden` 403,
`not_found` 404, `method_not_allowed` 405, `conflict_not_resolvable` 409, `body_too_large` 413,
`validation_failed` 422, `invalid_email` 422, `unknown_purpose` 422, `decision_refused` 422,
`idempotency_key_reused` 422, `database_unavailable` 503, `internal_error` 500. Messages never
echo what the client sent (an email, a token).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from consent_sync.api.schemas import ErrorBody, FieldProblem
from consent_sync.errors import ConsentSyncError
from consent_sync.logs import brief, bug_traceback

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    400: "malformed_body",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


class ApiError(ConsentSyncError):
    """A refusal the API answers with `status` and a stable `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)


def error_response(
    status: int, code: str, message: str, problems: list[FieldProblem] | None = None
) -> JSONResponse:
    """The JSON error body every failure uses."""
    body = ErrorBody(code=code, message=message, problems=problems or [])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _problems(errors: Any) -> list[FieldProblem]:
    return [
        FieldProblem(
            loc=[part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
            message=str(error.get("msg", "invalid")),
            type=str(error.get("type", "invalid")),
        )
        for error in errors
    ]


def install_handlers(app: FastAPI) -> None:
    """Answer every failure of `app` as an ErrorBody, never as HTML or a bare 500."""

    @app.exception_handler(ApiError)
    async def refused(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "validation_failed", "the request is not valid", _problems(exc.errors())
        )

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(SQLAlchemyError)
    async def database(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.warning("API request failed on the database", error=brief(exc))
        return error_response(503, "database_unavailable", "the store is not answering; retry")

    @app.exception_handler(Exception)
    async def bug(_request: Request, exc: Exception) -> JSONResponse:
        log.error("API request failed", error=brief(exc), **bug_traceback(exc))
        return error_response(500, "internal_error", "an internal error; it has been logged")
