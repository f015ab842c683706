"""The plain data a connector and the engine exchange: records read, values written (pure).

A connector returns records as its CRM holds them and writes the raw field values it is given;
these types carry them, with the timestamps and evidence the CRM keeps alongside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from consent_sync.domain.model import Conflict, ConflictKind, LinkKey, Status

__all__ = [
    "WHOLE_RECORD",
    "Created",
    "Decided",
    "FieldInfo",
    "FieldWrite",
    "Page",
    "Quota",
    "Record",
    "Unreadable",
    "WriteResult",
    "unreadable_conflicts",
]


#: The empty read-only mapping every record without per-field data shares (pulls build many).
_NOTHING: Mapping[str, Any] = MappingProxyType({})
#: The `Record.unreadable` key of a problem with the record itself (its id, modification stamp
#: or deletion flag): nothing it holds can be used.
WHOLE_RECORD = "(record)"
#: The `modified_at` of a record whose own stamp would not parse: it means nothing.
NO_STAMP = datetime(1970, 1, 1, tzinfo=UTC)
_RAW_KEPT = 200  # characters of an unreadable value kept for on-call


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A value of a CRM answer that would not parse, as received (docs/design.md, "Containment").

    `part` says what held it (a field, or a part of a value such as a status's `timestamp`),
    `raw` the value as received (shortened; it may be personal data: it is kept in the conflict
    for on-call, never logged), `reason` what it should have been.
    """

    part: str
    raw: str
    reason: str

    @classmethod
    def of(cls, part: str, value: object, reason: str) -> Unreadable:
        """The problem with `value`, its text shortened to what on-call needs."""
        text = value if isinstance(value, str) else repr(value)
        return cls(part, text[:_RAW_KEPT], reason)


@dataclass(frozen=True, slots=True)
class Record:
    """One CRM record as pulled: raw field values and the best timestamps available.

    `field_times` holds a per-field decision time where the CRM keeps one (a subscription's own
    timestamp); otherwise `modified_at` (the record's modification stamp) is the upper bound.
    `unreadable` names each mapped field whose value would not parse (it is left out of
    `fields`), or `WHOLE_RECORD` when the record itself would not: such a record has no fields,
    an empty `record_id` if its id was the problem, and `NO_STAMP` if its stamp was.
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
    unreadable: Mapping[str, Unreadable] = field(default_factory=lambda: _NOTHING)

    @property
    def readable(self) -> bool:
        """Whether the record itself parsed (its values may still hold unreadable ones)."""
        return WHOLE_RECORD not in self.unreadable

    @classmethod
    def broken(
        cls, object_type: str, record_id: str, problem: Unreadable, modified_at: datetime = NO_STAMP
    ) -> Record:
        """A record whose own id, stamp or deletion flag would not parse: it carries nothing."""
        return cls(object_type, record_id, {}, modified_at, unreadable={WHOLE_RECORD: problem})


def unreadable_conflicts(
    system: str, record: Record, purposes: Mapping[str, str]
) -> tuple[Conflict, ...]:
    """One `unparseable` conflict per purpose a record's unreadable values leave unread.

    `purposes` maps each pulled field to its purpose; a problem with the record itself leaves
    every one of them unread. The raw value goes into the conflict's detail, not its message
    (which listings print).
    """
    link = LinkKey(system, record.object_type, record.record_id) if record.record_id else None
    where = f"{system} {record.object_type}/{record.record_id or '(no id)'}"
    found: dict[str, Conflict] = {}
    for name, problem in record.unreadable.items():
        if name == WHOLE_RECORD:
            spoiled = sorted(set(purposes.values()))
            what = f"the record's {problem.part}"
        else:
            spoiled = [purposes[name]] if name in purposes else []
            what = f"{name} ({problem.part})" if problem.part != name else name
        for purpose in spoiled:
            found.setdefault(
                purpose,
                Conflict(
                    ConflictKind.UNPARSEABLE,
                    purpose,
                    (),
                    "parse",
                    f"{where}: {what} would not parse ({problem.reason}); {purpose} was not "
                    "read from it (the value as received is in the detail)",
                    link=link,
                    detail={
                        "field": name,
                        "part": problem.part,
                        "raw": problem.raw,
                        "reason": problem.reason,
                    },
                ),
            )
    return tuple(found.values())


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a pull; the engine commits its decisions before asking for the next.

    `resume`: an opaque token (a change-tracking link) on a pull's last page only; the engine
    stores it with the cursor once the page is committed and hands it back to the next pull.
    `as_of`: the local time the page's data is as of, where that is before the page was asked
    for (every page of a query job: the job's creation); else the engine takes the moment it
    asked for the page (docs/design.md, "Revocations during a long pull").
    """

    records: Sequence[Record]
    watermark: datetime | None  # highest modification stamp in the page
    resume: str | None = None
    as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decided:
    """When and where a written value was decided: its decision's time (None when its evidence
    does not say) and the system (or `manual:<who>`, `api:<client>`) it came from."""

    at: datetime | None
    source: str


@dataclass(frozen=True, slots=True)
class FieldWrite:
    """Raw values to write to one record, with the evidence the CRM can store alongside.

    `legal_basis` and `explanation` are the decision's own recorded evidence, set only when a
    grant is written; a connector never fills them in (a grant the target cannot store without
    a basis is answered with `WriteResult.unrepresentable`). `email` is the record's normalized
    email as last read, for APIs that address records by email (personal data: never logged).
    `decided` says, per field written, when and where its decision was made, for systems that
    record it with the value (a Salesforce consent record's CaptureDate and CaptureSource).
    """

    record_id: str
    values: Mapping[str, Any]
    legal_basis: str | None = None
    explanation: str | None = None
    email: str | None = field(default=None, repr=False)
    decided: Mapping[str, Decided] = field(default_factory=lambda: _NOTHING)


@dataclass(frozen=True, slots=True)
class Created:
    """A record a write created beside the record it wrote, holding `status` of `purpose` as
    consent-sync wrote it (the consent record a Salesforce revocation implies)."""

    object_type: str
    record_id: str
    purpose: str
    status: Status


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
    # Records this write created beside the record (the store links them to its subject).
    created: tuple[Created, ...] = ()


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
