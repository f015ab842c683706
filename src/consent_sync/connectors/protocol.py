"""The protocol every connector implements, and the plain data it exchanges with the engine.

A connector knows its CRM — paths, paging, auth, quotas — and nothing about consent policy:
it returns records as the CRM holds them and writes raw field values it is given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable


class ConnectorError(Exception):
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


#: The empty read-only mapping every record without per-field data shares (pulls build many).
_NOTHING: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Record:
    """One CRM record as pulled: raw field values and the best timestamps available.

    `field_times` holds a per-field decision time where the CRM keeps one (a subscription's own
    timestamp); otherwise `modified_at` (the record's modification stamp) is the upper bound.
    """

    object_type: str
    record_id: str
    fields: Mapping[str, Any]
    modified_at: datetime
    deleted: bool = False
    field_times: Mapping[str, datetime] = field(default_factory=lambda: _NOTHING)
    field_evidence: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: _NOTHING
    )  # what the CRM stores with a value: legal basis, explanation, source


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a pull; the engine commits its decisions before asking for the next."""

    records: Sequence[Record]
    watermark: datetime | None  # highest modification stamp in the page


@dataclass(frozen=True, slots=True)
class FieldWrite:
    """Raw values to write to one record, with the evidence the CRM can store alongside.

    `legal_basis` and `explanation` are the decision's own recorded evidence, set only when a
    grant is written; a connector never fills them in (a grant the target cannot store without
    a basis is answered with `WriteResult.unrepresentable`).
    """

    record_id: str
    values: Mapping[str, Any]
    legal_basis: str | None = None
    explanation: str | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of writing one record in a batch."""

    record_id: str
    ok: bool
    error: str | None = None
    retryable: bool = False
    gone: bool = False  # the record no longer exists: its link ends
    # The target cannot store this value with the evidence it was given (HubSpot's SUBSCRIBED
    # without a legal basis): nothing was written, and nothing should be retried.
    unrepresentable: bool = False


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A CRM field as its describe endpoint tells it (for `validate --live`)."""

    name: str
    type: str
    writable: bool
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Quota:
    """API quota as last reported by the CRM."""

    used: int | None = None
    limit: int | None = None

    @property
    def share_used(self) -> float | None:
        if self.used is None or not self.limit:
            return None
        return self.used / self.limit


@runtime_checkable
class Connector(Protocol):
    """What the engine needs from a CRM."""

    name: str

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
