"""Dataverse's error bodies, and the typed error the emulator raises to produce them.

Every Web API error is `{"error": {"code": "0x...", "message": ...}}` (the code is the
platform's hexadecimal error code, unrelated to the HTTP status and sometimes empty).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

#: The platform's codes the emulator answers with (from Microsoft's Dataverse documentation).
INVALID_ARGUMENT = "0x80040203"
OBJECT_DOES_NOT_EXIST = "0x80040217"
ODATA_BAD_REQUEST = "0x80060888"
CONCURRENCY_VERSION_MISMATCH = "0x80060882"
GENERIC_SQL_ERROR = "0x80044150"
EXPIRED_VERSION_STAMP = "0x80044352"
REQUESTS_LIMIT = "0x80072322"
EXECUTION_TIME_LIMIT = "0x80072321"
CONCURRENCY_LIMIT = "0x80072326"
UNEXPECTED = "0x80040216"

#: What the service answers when a change-tracking token is too old (or unknown).
EXPIRED_VERSION_STAMP_MESSAGE = (
    "Version stamp associated with the client has expired. Please perform a full sync."
)


def error_body(status: int, code: str | None = None, message: str | None = None) -> dict[str, Any]:
    """The JSON body Dataverse sends with a non-2xx status."""
    if code is None or message is None:
        default_code, default_message = _defaults(status)
        code = default_code if code is None else code
        message = default_message if message is None else message
    return {"error": {"code": code, "message": message}}


def _defaults(status: int) -> tuple[str, str]:
    if status == 429:
        return (
            REQUESTS_LIMIT,
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        )
    if status == 401:
        return "", "RequestIsNotAuthenticated: the request carries no valid access token."
    if status == 404:
        return OBJECT_DOES_NOT_EXIST, "The requested resource does not exist."
    if status >= 500:
        return UNEXPECTED, "An unexpected error occurred."
    return INVALID_ARGUMENT, "The request is invalid."


class DataverseError(Exception):
    """Raised by a handler to answer with Dataverse's error body and status."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message)


def bad_request(message: str, code: str = ODATA_BAD_REQUEST) -> DataverseError:
    """A 400 in the OData shape (bad property, bad literal, bad query option...)."""
    return DataverseError(400, code, message)


def not_found(contact_id: str) -> DataverseError:
    """What Dataverse answers for a record id that does not exist (or no longer does)."""
    return DataverseError(
        404, OBJECT_DOES_NOT_EXIST, f"contact With Id = {contact_id} Does Not Exist"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer `DataverseError` and request-shape errors with Dataverse's bodies, never FastAPI's."""

    @app.exception_handler(DataverseError)
    async def on_dataverse_error(_: Request, exc: DataverseError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
            for err in exc.errors()
        )
        body = error_body(400, ODATA_BAD_REQUEST, f"Invalid request: {problems}")
        return JSONResponse(body, status_code=400)
