"""Salesforce's error shapes: REST error lists, OAuth errors and per-record save errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SESSION_EXPIRED = "Session expired or invalid"


class SalesforceError(Exception):
    """A request-level failure, answered as `[{"message": ..., "errorCode": ...}]`."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


class OAuthError(Exception):
    """A token request refused, answered as `{"error": ..., "error_description": ...}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True, slots=True)
class RecordError:
    """One entry of a SaveResult's `errors` list."""

    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


class RecordRejected(Exception):
    """A single-record write refused; the REST answer is a 400 error list."""

    def __init__(self, errors: list[RecordError], status: int = 400) -> None:
        super().__init__("; ".join(f"{e.status_code}: {e.message}" for e in errors))
        self.errors = errors
        self.status = status

    def body(self) -> list[dict[str, Any]]:
        return [
            {"message": e.message, "errorCode": e.status_code, "fields": e.fields}
            for e in self.errors
        ]


def injected_error_body(status: int) -> list[dict[str, str]]:
    """What Salesforce answers for a status the fault injector forces."""
    if status in (403, 429):
        return [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    if status == 401:
        return [{"message": SESSION_EXPIRED, "errorCode": "INVALID_SESSION_ID"}]
    if status in (502, 503, 504):
        return [
            {
                "message": "Server is temporarily unavailable, please try again later.",
                "errorCode": "SERVER_UNAVAILABLE",
            }
        ]
    return [
        {
            "message": "An unexpected error occurred. Please include this ErrorId if you "
            "contact support: 1234567890-12345 (-1234567890)",
            "errorCode": "UNKNOWN_EXCEPTION",
        }
    ]
