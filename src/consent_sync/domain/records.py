"""The plain data a connector and the engine exchange: records read, values written (pure).

A connector returns records as its CRM holds them and writes the raw field values it is given;
these types carry them, with the timestamps and evidence the CRM keeps alongside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

__all__ = ["FieldInfo", "FieldWrite", "Page", "Quota", "Record", "WriteResult"]


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
