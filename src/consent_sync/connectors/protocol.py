"""The protocol every connector implements, and the errors it raises.

The plain data it exchanges with the engine (records, pages, writes) lives in the domain
(`consent_sync.domain.records`).

A connector knows its CRM — paths, paging, auth, quotas — and nothing about consent policy:
it returns records as the CRM holds them and writes raw field values it is given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from consent_sync.domain.records import FieldInfo, FieldWrite, Page, Quota, Record, WriteResult
from consent_sync.errors import ConsentSyncError


class ConnectorError(ConsentSyncError):
    """A failure talking to a CRM, with the context an on-call engineer needs."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        object_type: str | None = None,
        record_id: str | None = None,
        field_name: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        context = "/".join(p for p in (system, object_type, record_id, field_name) if p)
        super().__init__(f"{context}: {message}")
        self.system = system
        self.object_type = object_type
        self.record_id = record_id
        self.field_name = field_name
        self.status = status
        self.code = code  # the CRM's own error code, e.g. INVALID_QUERY_LOCATOR


class TransientError(ConnectorError):
    """Worth retrying: connection errors, timeouts, 429, 5xx, row locks."""

    def __init__(self, message: str, *, retry_after: float | None = None, **ctx: Any) -> None:
        super().__init__(message, **ctx)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Retrying will not help: bad request, missing permission, unknown field."""


class AuthError(PermanentError):
    """Credentials were refused."""


class QuotaExhausted(ConnectorError):
    """The CRM's daily quota is spent: not retried now; the work waits for the next cycle."""


@runtime_checkable
class Connector(Protocol):
    """What the engine needs from a CRM."""

    name: str

    @property
    def api_calls(self) -> int:
        """HTTP requests sent to the CRM so far, retries included (runs count their share)."""
        ...

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        """Records changed at or after `since` (all when None), oldest first, page by page."""
        ...

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        """The current state of the given records (missing ones are left out)."""
        ...

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Write in batches as large as the API allows; one result per write, in order."""
        ...

    def describe(self, object_type: str) -> list[FieldInfo]:
        """The object's fields, types and writability."""
        ...

    def quota(self) -> Quota:
        """API quota as last reported."""
        ...

    def close(self) -> None:
        """Release sessions and sockets."""
        ...


@runtime_checkable
class ResumablePull(Protocol):
    """A connector whose pulls can resume from an opaque token (a change-tracking link).

    A pull's last page may carry `Page.resume`; the engine stores it with the cursor and, on
    the next incremental pull, calls `pull_resuming` with it instead of `pull`. A full read
    ignores it.
    """

    def pull_resuming(
        self, object_type: str, since: datetime | None, resume: str
    ) -> Iterator[Page]:
        """Records changed since the pull whose last page carried `resume`, page by page."""
        ...
