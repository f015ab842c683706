"""The consent domain as plain data: purposes, statuses, observations, decisions, conflicts.

Everything here is immutable and free of I/O; the reconciliation rule (`reconcile.py`) is a pure
function over these types and the store persists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Status(StrEnum):
    """What a subject has said about one purpose (docs/design.md, "What a grant is").

    `granted` is an explicit grant: a person's act, with its evidence. `not_opted_out` is the
    absence of an objection (an unticked opt-out box, an empty field): it never lifts a denial
    and is never written anywhere as an opt-in. `unknown` says nothing at all.
    """

    GRANTED = "granted"
    NOT_OPTED_OUT = "not_opted_out"
    DENIED = "denied"
    UNKNOWN = "unknown"

    @property
    def explicit(self) -> bool:
        """Whether this is a person's decision (a grant or a denial), not an absence of one."""
        return self in (Status.GRANTED, Status.DENIED)


class Policy(StrEnum):
    """How a purpose settles a new decision against the canonical state.

    See docs/design.md, "The reconciliation rule".
    """

    REVOCATION_WINS = "revocation_wins"
    LAST_WRITER_WINS = "last_writer_wins"
    SOURCE_PRIORITY = "source_priority"


class Regime(StrEnum):
    """What a purpose's state means to readers of the store; never what consent-sync writes.

    Under `opt_in` (the default; GDPR consent, TCPA) only an explicit grant permits the purpose.
    Under `opt_out` (e.g. US marketing email under CAN-SPAM) anyone who has not opted out may be
    contacted. Either way a grant is only ever what a person gave.
    """

    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


class TimeKind(StrEnum):
    """How precise a decision time is, most precise first (the ledger stores which it was)."""

    FIELD = "field"  # the field's own history or a subscription's own timestamp
    ASSERTED = "asserted"  # stated by the caller: a manual decision, a preference centre
    RECORD_MODIFIED = "record_modified"  # the record's modification stamp (an upper bound)
    OBSERVED = "observed"  # when consent-sync saw it


class ConflictKind(StrEnum):
    """Every kind of recorded disagreement or failure (docs/design.md, "Vocabulary")."""

    GRANT_BLOCKED = "grant_blocked"
    STALE_OVERRIDE = "stale_override"
    CONCURRENT_CHANGE = "concurrent_change"
    INITIAL_DISAGREEMENT = "initial_disagreement"
    IDENTITY_AMBIGUOUS = "identity_ambiguous"
    UNMAPPABLE_VALUE = "unmappable_value"
    UNPARSEABLE = "unparseable"  # a CRM answered a value that is not what it must be
    PUSH_REJECTED = "push_rejected"
    DRIFT = "drift"
    GRANT_NOT_REPRESENTABLE = "grant_not_representable"


class Severity(StrEnum):
    """Whether a human must look at a conflict."""

    NEEDS_REVIEW = "needs_review"
    INFO = "info"


#: The severity each conflict kind is recorded with.
SEVERITY: Mapping[ConflictKind, Severity] = MappingProxyType(
    {
        ConflictKind.GRANT_BLOCKED: Severity.NEEDS_REVIEW,
        ConflictKind.STALE_OVERRIDE: Severity.INFO,
        ConflictKind.CONCURRENT_CHANGE: Severity.INFO,
        ConflictKind.INITIAL_DISAGREEMENT: Severity.INFO,
        ConflictKind.IDENTITY_AMBIGUOUS: Severity.NEEDS_REVIEW,
        ConflictKind.UNMAPPABLE_VALUE: Severity.NEEDS_REVIEW,
        ConflictKind.UNPARSEABLE: Severity.NEEDS_REVIEW,
        ConflictKind.PUSH_REJECTED: Severity.NEEDS_REVIEW,
        ConflictKind.DRIFT: Severity.INFO,
        ConflictKind.GRANT_NOT_REPRESENTABLE: Severity.INFO,
    }
)

MANUAL_PREFIX = "manual:"

#: Legal bases a decision's evidence may name (GDPR Art. 6(1), and `non_gdpr` outside it).
LEGAL_BASES = frozenset(
    {
        "consent",
        "contract",
        "legal_obligation",
        "vital_interests",
        "public_task",
        "legitimate_interest",
        "non_gdpr",
    }
)

#: Per (system, object type, purpose) that a field pushes: for each canonical status, what the
#: field reads as once that status is written to it (an opt-out checkbox holds `not_opted_out`
#: for a grant). A status the field cannot hold is absent: nothing is queued for it.
Targets = Mapping[tuple[str, str, str], Mapping["Status", "Status"]]


@dataclass(frozen=True, slots=True)
class Purpose:
    """A consent topic from `mappings/purposes.yaml` and the policy that settles it."""

    name: str
    title: str = ""
    channel: str = "none"
    policy: Policy = Policy.REVOCATION_WINS
    grant_sources: frozenset[str] | None = None  # None: every system may grant
    source_priority: tuple[str, ...] = ()  # for Policy.SOURCE_PRIORITY, highest first
    require_evidence: bool = False
    regime: Regime = Regime.OPT_IN

    def permits(self, status: Status) -> bool:
        """Whether a person in `status` may be contacted for this purpose, under its regime."""
        if status is Status.GRANTED:
            return True
        return self.regime is Regime.OPT_OUT and status is not Status.DENIED

    def may_grant(self, source: str) -> bool:
        """Whether a grant from `source` may lift a denial (manual decisions always may)."""
        if source.startswith(MANUAL_PREFIX) or self.grant_sources is None:
            return True
        return source in self.grant_sources


@dataclass(frozen=True, slots=True)
class LinkKey:
    """One CRM record that belongs to a subject: (system, object type, record id)."""

    system: str
    object_type: str
    record_id: str

    def __str__(self) -> str:
        return f"{self.system}/{self.object_type}/{self.record_id}"


@dataclass(frozen=True, slots=True)
class Evidence:
    """Proof of a decision, after ISO/IEC TS 27560 and the Kantara consent receipt.

    `source` is the system (or `manual:<who>`, `api:<client>`) the decision came from.
    """

    source: str
    source_record: str | None = None  # e.g. "salesforce/Contact/003..."
    collection_method: str | None = None  # e.g. "crm_field", "email_footer", "preference_centre"
    legal_basis: str | None = None  # e.g. "consent", "legitimate_interest"
    notice_ref: str | None = None  # the privacy notice or policy shown
    notice_version: str | None = None
    actor: str | None = None  # who acted: the subject, a rep, an admin
    captured_at: datetime | None = None
    jurisdiction: str | None = None  # e.g. "EU", "US-CA"
    note: str | None = None
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def is_substantive(self) -> bool:
        """Whether this proves the decision, not only where and how it was entered (for
        `require_evidence`): a legal basis, the notice shown, or a note of what the person did.

        `collection_method` and `actor` say how a value was entered and by whom, which every
        manual entry and CRM field has, so they prove nothing on their own.
        """
        return any((self.legal_basis, self.notice_ref, self.note))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict without empty fields, timestamps as ISO 8601."""
        out: dict[str, Any] = {}
        for name in (
            "source",
            "source_record",
            "collection_method",
            "legal_basis",
            "notice_ref",
            "notice_version",
            "actor",
            "captured_at",
            "jurisdiction",
            "note",
        ):
            value = getattr(self, name)
            if value is None:
                continue
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        if self.extra:
            out["extra"] = dict(sorted(self.extra.items()))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evidence:
        """Inverse of `to_json`."""
        captured = data.get("captured_at")
        return cls(
            source=str(data["source"]),
            source_record=data.get("source_record"),
            collection_method=data.get("collection_method"),
            legal_basis=data.get("legal_basis"),
            notice_ref=data.get("notice_ref"),
            notice_version=data.get("notice_version"),
            actor=data.get("actor"),
            captured_at=datetime.fromisoformat(captured) if captured else None,
            jurisdiction=data.get("jurisdiction"),
            note=data.get("note"),
            extra=MappingProxyType(dict(data.get("extra") or {})),
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """What one system says about one purpose of one link at one time.

    `link` is None for decisions that do not come from a CRM record (manual, API).
    """

    source: str
    link: LinkKey | None
    purpose: str
    status: Status
    decided_at: datetime
    time_kind: TimeKind
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Shadow:
    """Per (link, purpose): the value last seen in the system and the value last written to it."""

    last_seen: Status | None = None
    last_written: Status | None = None


@dataclass(frozen=True, slots=True)
class Canonical:
    """The store's truth for (subject, purpose). `decided_at` is None while unknown."""

    status: Status = Status.UNKNOWN
    decided_at: datetime | None = None
    source: str | None = None
    imported: bool = False  # adopted from a first sight (rule 5), not a change anyone made

    @property
    def known(self) -> bool:
        return self.status is not Status.UNKNOWN


@dataclass(frozen=True, slots=True)
class Decision:
    """An accepted change of canonical state: becomes exactly one ledger row."""

    purpose: str
    status: Status
    previous: Status
    decided_at: datetime
    time_kind: TimeKind
    source: str
    link: LinkKey | None
    rule: str  # which clause accepted it, e.g. "first_sight", "revocation_wins", "manual"
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a conflict: who said what, when."""

    source: str
    status: Status
    decided_at: datetime | None
    link: LinkKey | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status.value,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "link": str(self.link) if self.link else None,
        }


@dataclass(frozen=True, slots=True)
class Conflict:
    """A recorded disagreement or failure: both sides, the rule applied, whether to review."""

    kind: ConflictKind
    purpose: str
    sides: tuple[Side, ...]
    rule: str
    message: str
    link: LinkKey | None = None
    detail: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rule concluded for one observation."""

    observation: Observation
    outcome: str  # "no_change", "echo", "agreement", "unknown_ignored", "applied", "blocked", ...
    decision: Decision | None = None
    conflicts: tuple[Conflict, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the rule concluded for a batch of observations of one (subject, purpose).

    The caller records `decisions` (ledger + canonical state), `conflicts`, sets every observed
    link's shadow `last_seen` to its observation, and pushes `canonical` to every link of the
    subject whose shadow differs from it.
    """

    purpose: str
    canonical: Canonical
    verdicts: tuple[Verdict, ...]
    conflicts: tuple[Conflict, ...]  # every conflict, batch-level ones included

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(v.decision for v in self.verdicts if v.decision is not None)
