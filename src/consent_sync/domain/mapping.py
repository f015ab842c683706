"""CRM records to observations and canonical statuses back to raw field values (pure).

A mapping's value table reads forwards when pulling (raw value -> status) and backwards when
pushing. A value the table cannot read becomes an `unmappable_value` conflict carrying the raw
value; it never crashes a sync and is never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from consent_sync.domain.identity import MatchKeys, normalize_phone, read_email
from consent_sync.domain.model import (
    Conflict,
    ConflictKind,
    Evidence,
    LinkKey,
    Observation,
    Status,
    Targets,
    TimeKind,
)
from consent_sync.domain.records import Record

#: A CRM value as YAML typed it: `true` (a checkbox) and `"true"` (a string) are different values.
RawValue = bool | int | float | str | None


class FieldRule(Protocol):
    """One mapped field, as configuration describes it (`mappings/<system>.yaml`)."""

    @property
    def purpose(self) -> str: ...
    @property
    def values(self) -> Mapping[RawValue, Status]: ...
    @property
    def push_value(self) -> Mapping[Status, RawValue] | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def pulls(self) -> bool: ...
    @property
    def pushes(self) -> bool: ...


class MatchRule(Protocol):
    """The record fields identity resolution matches on."""

    @property
    def email(self) -> str: ...
    @property
    def phone(self) -> str | None: ...


class ObjectRule(Protocol):
    """One mapped CRM object: its match keys and consent fields."""

    @property
    def match(self) -> MatchRule: ...
    @property
    def fields(self) -> Mapping[str, FieldRule]: ...


class SystemRule(Protocol):
    """Every mapped object of one system."""

    @property
    def objects(self) -> Mapping[str, ObjectRule]: ...


# -- value tables ------------------------------------------------------------------------------


def raw_values_for(field: FieldRule, status: Status) -> list[RawValue]:
    """Every raw value the table reads as `status`, in the order written."""
    return [raw for raw, mapped in field.values.items() if mapped is status]


def status_for(field: FieldRule, raw: RawValue) -> Status | None:
    """The status a raw CRM value means, or None when the table cannot read it.

    Compares type as well as value, so a checkbox `True` never matches a picklist `1`.
    """
    for key, status in field.values.items():
        if type(key) is type(raw) and key == raw:
            return status
    return None


def raw_for(field: FieldRule, status: Status) -> RawValue:
    """The raw value to write for `status`; KeyError if this field cannot represent it.

    A field with no value for an explicit grant (an opt-out checkbox) writes a grant as its
    "not opted out" value: a grant implies no objection. The reverse never holds: "not opted
    out" is never written as an opt-in (docs/design.md, "What a grant is").
    """
    if field.push_value is not None and status in field.push_value:
        return field.push_value[status]
    candidates = raw_values_for(field, status)
    if not candidates and status is Status.GRANTED:
        return raw_for(field, Status.NOT_OPTED_OUT)
    if not candidates or status is Status.UNKNOWN:
        raise KeyError(status)
    return candidates[0]


def held(field: FieldRule, status: Status) -> Status | None:
    """What this field reads as once `status` is written to it; None if it cannot be."""
    try:
        return status_for(field, raw_for(field, status))
    except KeyError:
        return None


def pushed_field(obj: ObjectRule, purpose: str) -> tuple[str, FieldRule] | None:
    """The field a purpose is written to on this object, if any."""
    for name, field in obj.fields.items():
        if field.purpose == purpose and field.pushes:
            return name, field
    return None


# -- records <-> observations ------------------------------------------------------------------

_EVIDENCE_KEYS = ("legal_basis", "collection_method", "notice_ref", "actor", "note")


@dataclass(frozen=True, slots=True)
class MappedRecord:
    """What one pulled record says, ready for identity resolution and reconciliation."""

    link: LinkKey
    keys: MatchKeys
    observations: tuple[Observation, ...]
    unmappable: tuple[Conflict, ...]
    deleted: bool


def pulled_fields(mapping: ObjectRule) -> list[str]:
    """Every CRM field a pull must read for this object: match keys and pulled consent fields."""
    names = [mapping.match.email]
    if mapping.match.phone:
        names.append(mapping.match.phone)
    names += [name for name, f in mapping.fields.items() if f.pulls and f.kind == "property"]
    return list(dict.fromkeys(names))


def match_keys(mapping: ObjectRule, fields: Mapping[str, Any]) -> MatchKeys:
    """The record's normalized email and phone (None where missing or malformed), and why an
    email it holds was refused."""
    email, refused = read_email(fields.get(mapping.match.email))
    phone = None
    raw_phone = fields.get(mapping.match.phone) if mapping.match.phone else None
    if isinstance(raw_phone, str) and raw_phone.strip():
        try:
            phone = normalize_phone(raw_phone)
        except ValueError:
            phone = None
    return MatchKeys(email=email, phone=phone, refused=refused)


def observe(
    system: str, mapping: ObjectRule, record: Record, observed_at: datetime
) -> MappedRecord:
    """Map one record to observations, one per pulled consent field present in the record."""
    link = LinkKey(system, record.object_type, record.record_id)
    observations: list[Observation] = []
    unmappable: list[Conflict] = []
    for name, field_mapping in mapping.fields.items():
        if not field_mapping.pulls or name not in record.fields:
            continue
        raw = record.fields[name]
        status = status_for(field_mapping, raw)
        if status is None:
            unmappable.append(_unmappable(link, name, field_mapping, raw))
            continue
        decided_at, kind = _decision_time(record, name, observed_at)
        observations.append(
            Observation(
                system,
                link,
                field_mapping.purpose,
                status,
                decided_at,
                kind,
                _evidence(system, link, name, record, decided_at),
            )
        )
    return MappedRecord(
        link,
        match_keys(mapping, record.fields),
        tuple(observations),
        tuple(unmappable),
        record.deleted,
    )


def targets(mappings: Mapping[str, SystemRule]) -> Targets:
    """What every pushed field holds for each canonical status it can be written.

    An opt-out checkbox holds `not_opted_out` for a grant (unticked); a HubSpot subscription
    holds nothing for `not_opted_out` (it is never written as an opt-in).
    """
    out: dict[tuple[str, str, str], Mapping[Status, Status]] = {}
    for system, system_mapping in mappings.items():
        for object_type, obj in system_mapping.objects.items():
            for purpose in {f.purpose for f in obj.fields.values()}:
                found = pushed_field(obj, purpose)
                if found is None:
                    continue
                holds = {
                    s: held(found[1], s)
                    for s in (Status.GRANTED, Status.NOT_OPTED_OUT, Status.DENIED)
                }
                out[(system, object_type, purpose)] = {
                    s: h for s, h in holds.items() if h is not None
                }
    return out


def render(mapping: ObjectRule, purpose: str, status: Status) -> tuple[str, Any] | None:
    """The (field, raw value) that writes `status` for `purpose`, or None if not representable."""
    found = pushed_field(mapping, purpose)
    if found is None:
        return None
    name, field_mapping = found
    try:
        return name, raw_for(field_mapping, status)
    except KeyError:
        return None


def _decision_time(record: Record, name: str, observed_at: datetime) -> tuple[datetime, TimeKind]:
    if name in record.field_times:
        return record.field_times[name], TimeKind.FIELD
    # The record's stamp is an upper bound on when the field changed; a CRM clock running ahead
    # of ours must not make its values look newer than they are.
    return min(record.modified_at, observed_at), TimeKind.RECORD_MODIFIED


def _evidence(
    system: str, link: LinkKey, name: str, record: Record, decided_at: datetime
) -> Evidence:
    stored = record.field_evidence.get(name, {})
    known = {k: stored[k] for k in _EVIDENCE_KEYS if stored.get(k)}
    extra = {k: v for k, v in stored.items() if k not in _EVIDENCE_KEYS and v}
    return Evidence(
        source=system,
        source_record=str(link),
        captured_at=decided_at,
        extra={"field": name, **extra},
        **known,
    )


def _unmappable(link: LinkKey, name: str, field_mapping: FieldRule, raw: Any) -> Conflict:
    readable = ", ".join(repr(k) for k in field_mapping.values)
    return Conflict(
        ConflictKind.UNMAPPABLE_VALUE,
        field_mapping.purpose,
        (),
        "mapping",
        f"{link.system} {link.object_type}.{name} holds {raw!r}, which the mapping cannot read "
        f"(it knows {readable})",
        link=link,
        detail={
            "field": name,
            "raw": raw if isinstance(raw, str | bool | int | float) else str(raw),
        },
    )
