"""HubSpot's error bodies, and the typed error the emulator's handlers raise to produce them."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

#: What HubSpot answers for a missing or unknown private-app token.
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)

_CATEGORY_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITS",
}


def correlation_id() -> str:
    """A fresh id like the `correlationId` on every HubSpot error."""
    return str(uuid.uuid4())


def error_body(
    status: int, message: str | None = None, category: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON body HubSpot sends with a non-2xx status (`status`, `message`, `category`, ...)."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message or _default_message(status),
        "correlationId": correlation_id(),
        "category": category or _CATEGORY_BY_STATUS.get(status, "INTERNAL_ERROR"),
    }
    body.update(extra)
    return body


def _default_message(status: int) -> str:
    if status == 429:
        return "You have reached your ten_secondly_rolling limit."
    if status >= 500:
        return "internal error"
    return "There was a problem with the request."


class HubSpotError(Exception):
    """Raised by a handler to answer with HubSpot's error body and status."""

    def __init__(
        self, status: int, message: str, category: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(status, message, category, **extra)


def install_error_handlers(app: FastAPI) -> None:
    """Answer `HubSpotError` and request-shape errors with HubSpot's bodies (never FastAPI's)."""

    @app.exception_handler(HubSpotError)
    async def on_hubspot_error(_: Request, exc: HubSpotError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        details = [
            {
                "message": str(err.get("msg", "invalid")),
                "in": ".".join(str(p) for p in err.get("loc", ())),
            }
            for err in problems
        ]
        if any(err.get("type") == "json_invalid" for err in problems):
            message = "Invalid input JSON: the request body is not valid JSON"
        else:
            message = "Invalid input: " + "; ".join(f"{d['in']}: {d['message']}" for d in details)
        body = error_body(400, message, "VALIDATION_ERROR", errors=details)
        return JSONResponse(body, status_code=400)
