"""Mailchimp's problem-detail error bodies, and the typed error the emulator's handlers raise.

Every error is `application/problem+json` with `type`, `title`, `status`, `detail` and
`instance` (a request id), as the Marketing API documents its errors; validation errors add
`errors: [{"field", "message"}]`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM_JSON = "application/problem+json; charset=utf-8"
VALIDATION_DETAIL = (
    "The resource submitted could not be validated. For field-specific details, see the "
    "'errors' array."
)

_TITLES = {
    400: ("Invalid Resource", "The resource submitted could not be validated."),
    401: (
        "API Key Invalid",
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
    ),
    403: ("Forbidden", "You don't have permission to access this resource."),
    404: ("Resource Not Found", "The requested resource could not be found."),
    405: (
        "Method Not Allowed",
        "The requested method and resource are not compatible. See the Allow header for this "
        "resource's available methods.",
    ),
    429: ("Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."),
    500: (
        "Internal Server Error",
        "An unexpected internal error has occurred. Please contact Support for more information.",
    ),
    503: ("Service Unavailable", "This service is temporarily unavailable. Please try again."),
}


def problem(
    status: int, title: str | None = None, detail: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The body Mailchimp sends with a non-2xx status."""
    default_title, default_detail = _TITLES.get(status, ("Error", "An error occurred."))
    body: dict[str, Any] = {
        "type": ERROR_TYPE,
        "title": title or default_title,
        "status": status,
        "detail": detail or default_detail,
        "instance": str(uuid.uuid4()),
    }
    body.update(extra)
    return body


def error_body(status: int) -> dict[str, Any]:
    """The default body for an injected fault of this status (`/_sandbox/faults`)."""
    return problem(status)


class MailchimpError(Exception):
    """Raised by a handler to answer with Mailchimp's problem body and status."""

    def __init__(
        self, status: int, title: str | None = None, detail: str | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.body = problem(status, title, detail, **extra)


def not_found() -> MailchimpError:
    return MailchimpError(404)


def respond(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """A problem-detail response."""
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer `MailchimpError`, unknown routes and malformed requests with problem bodies."""

    @app.exception_handler(MailchimpError)
    async def on_mailchimp_error(_: Request, exc: MailchimpError) -> JSONResponse:
        return respond(exc.status, exc.body)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        return respond(exc.status_code, problem(exc.status_code), headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(err.get("type") == "json_invalid" for err in problems):
            body = problem(
                400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."
            )
            return respond(400, body)
        errors = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query")),
                "message": str(err.get("msg", "invalid")),
            }
            for err in problems
        ]
        return respond(400, problem(400, "Invalid Resource", VALIDATION_DETAIL, errors=errors))
