"""Salesforce's consent records read and written as plain data (docs/design.md, "Salesforce consent
records").

A ContactPointTypeConsent says what one person (its Individual, `PartyId`) decided about one
purpose (`DataUsePurposeId`) on one channel (`ContactPointType`); a ContactPointConsent the same
for one email address (`ContactPointId`, a ContactPointEmail). Each is a link of its own. Its
state is read into one derived field named for its mapping entry (`Email Marketing/Email`):

- `PrivacyConsentStatus` inside its effective window (`EffectiveFrom` <= now < `EffectiveTo`,
  either end open), e.g. `OptIn` (an explicit grant) or `OptOut` (a denial);
- `Expired` once `EffectiveTo` has passed: no consent any more, a denial, as Salesforce's Consent
  API answers. An opt-in that lapsed is decided at its `EffectiveTo`;
- `NotYetEffective` before `EffectiveFrom`: it says nothing yet.

`CaptureDate` is the decision time (a field time, never later than the record's own stamp);
`CaptureSource`, `CaptureContactPointType`, `DoubleConsentCaptureDate` and the window are its
evidence. A value that will not parse leaves the field out, as an `unparseable` conflict.

Nothing here does I/O: `consent_model.py` queries and resolves people, these functions read rows
and build the bodies written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consent_sync.connectors.salesforce.results import parse_sf_datetime
from consent_sync.domain.records import Decided, Unreadable

#: Fields both consent objects share, read after the object's own owner field.
STATE_FIELDS = (
    "DataUsePurposeId",
    "PrivacyConsentStatus",
    "CaptureDate",
    "CaptureSource",
    "CaptureContactPointType",
    "DoubleConsentCaptureDate",
    "EffectiveFrom",
    "EffectiveTo",
)
#: Each consent object's link to its person: an Individual, or an email address's contact point.
OWNER_FIELD = {"ContactPointTypeConsent": "PartyId", "ContactPointConsent": "ContactPointId"}
EXPIRED = "Expired"
NOT_YET_EFFECTIVE = "NotYetEffective"
_WINDOWED = frozenset({"OptIn", "OptOut"})  # statuses a window limits (NotSeen says nothing)
_DATETIMES = ("CaptureDate", "DoubleConsentCaptureDate", "EffectiveFrom", "EffectiveTo")
_SOURCE_MAX = 255  # CaptureSource is a string(255)


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    """One mapped (DataUsePurpose, ContactPointType), the derived field and purpose it feeds."""

    data_use_purpose: str
    contact_point_type: str
    field: str
    purpose: str
    pushes: bool = True


@dataclass(frozen=True, slots=True)
class ConsentObject:
    """A consent-records object as the connector reads and writes it."""

    object_type: str  # ContactPointTypeConsent | ContactPointConsent
    entries: tuple[ConsentEntry, ...]
    create_individual: bool = False

    @property
    def owner_field(self) -> str:
        return OWNER_FIELD[self.object_type]

    def select(self) -> tuple[str, ...]:
        """The fields a read of this object asks for, after Id, SystemModstamp, IsDeleted."""
        channel = ("ContactPointType",) if self.object_type == "ContactPointTypeConsent" else ()
        return (self.owner_field, *channel, *STATE_FIELDS)

    def entry(self, purpose_name: str, contact_point_type: str) -> ConsentEntry | None:
        """The entry a record of this DataUsePurpose name and channel is read by, if mapped.

        Salesforce compares names without regard to case.
        """
        wanted = purpose_name.casefold()
        return next(
            (
                e
                for e in self.entries
                if e.data_use_purpose.casefold() == wanted
                and e.contact_point_type == contact_point_type
            ),
            None,
        )


@dataclass(frozen=True, slots=True)
class ConsentState:
    """What one consent record says: the raw state its derived field holds, when it was decided
    (None: the record's stamp is all there is), its evidence, and what would not parse."""

    raw: object
    decided_at: datetime | None
    evidence: Mapping[str, str]
    problem: Unreadable | None = None


def read_state(
    row: Mapping[str, Any], entry: ConsentEntry, modified_at: datetime, now: datetime
) -> ConsentState:
    """The state of one queried consent record at `now` (pure)."""
    times: dict[str, datetime | None] = {}
    for name in _DATETIMES:
        value = row.get(name)
        if value is None:
            times[name] = None
            continue
        try:
            if not isinstance(value, str):
                raise ValueError(name)
            times[name] = parse_sf_datetime(value)
        except (ValueError, OverflowError):
            problem = Unreadable.of(name, value, "not a Salesforce dateTime")
            return ConsentState(None, None, {}, problem)
    status = row.get("PrivacyConsentStatus")
    if status is not None and not isinstance(status, str):
        problem = Unreadable.of("PrivacyConsentStatus", status, "not a picklist value")
        return ConsentState(None, None, {}, problem)
    captured = times["CaptureDate"]
    # A capture date after the record's last change cannot be when it was decided.
    decided_at = min(captured, modified_at) if captured is not None else None
    raw: object = status
    starts, ends = times["EffectiveFrom"], times["EffectiveTo"]
    if status in _WINDOWED and ends is not None and ends <= now:
        raw = EXPIRED
        if status == "OptIn":  # the consent lapsed then; an opt-out stays the person's own act
            decided_at = ends
    elif status in _WINDOWED and starts is not None and starts > now:
        raw = NOT_YET_EFFECTIVE
    return ConsentState(raw, decided_at, _evidence(row, entry, times))


def _evidence(
    row: Mapping[str, Any], entry: ConsentEntry, times: Mapping[str, datetime | None]
) -> dict[str, str]:
    """What the record stores with its state, as the mapping's evidence keys take it."""
    out = {
        "data_use_purpose": entry.data_use_purpose,
        "contact_point_type": entry.contact_point_type,
    }
    recorded = {
        "collection_method": row.get("CaptureSource"),
        "privacy_consent_status": row.get("PrivacyConsentStatus"),
        "capture_contact_point_type": row.get("CaptureContactPointType"),
    }
    out |= {key: value for key, value in recorded.items() if isinstance(value, str) and value}
    for key, name in (
        ("double_consent_captured_at", "DoubleConsentCaptureDate"),
        ("effective_from", "EffectiveFrom"),
        ("effective_to", "EffectiveTo"),
    ):
        if (value := times[name]) is not None:
            out[key] = value.isoformat()
    return out


def sf_datetime(value: datetime) -> str:
    """A datetime as Salesforce writes one: `2026-12-02T10:00:00.000+0000` (UTC)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def capture_source(source: str | None) -> str:
    """The CaptureSource consent-sync writes: itself and the system the decision came from."""
    text = f"consent-sync ({source})" if source else "consent-sync"
    return text[:_SOURCE_MAX]


def recorded_state(status: str, decided: Decided | None, now: datetime) -> dict[str, Any]:
    """The fields a consent record holds once consent-sync records `status` (OptIn or OptOut) on
    it, as Salesforce records a decision: captured when and where it was decided, effective
    from now (to the second) with no end. What the earlier state carried (how it was captured,
    a double opt-in date) belonged to that state and is cleared.
    """
    captured_at = decided.at if decided is not None and decided.at is not None else now
    return {
        "PrivacyConsentStatus": status,
        "CaptureDate": sf_datetime(min(captured_at, now)),
        "CaptureSource": capture_source(decided.source if decided is not None else None),
        "CaptureContactPointType": None,
        "DoubleConsentCaptureDate": None,
        "EffectiveFrom": sf_datetime(now.replace(microsecond=0)),
        "EffectiveTo": None,
    }
