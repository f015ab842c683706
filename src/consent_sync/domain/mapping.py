"""CRM records to observations and canonical statuses back to raw field values (pure).

A mapping's value table reads forwards when pulling (raw value -> status) and backwards when
pushing. A value the table cannot read becomes an `unmappable_value` conflict carrying the raw
value; it never crashes a sync and is never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from consent_sync.connectors.protocol import Record
from consent_sync.domain.identity import MatchKeys, normalize_phone, try_normalize_email
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

if TYPE_CHECKING:
    from consent_sync.config import FieldMapping, ObjectMapping, SystemMapping

_EVIDENCE_KEYS = ("legal_basis", "collection_method", "notice_ref", "actor", "note")


@dataclass(frozen=True, slots=True)
class MappedRecord:
    """What one pulled record says, ready for identity resolution and reconciliation."""

    link: LinkKey
    keys: MatchKeys
    observations: tuple[Observation, ...]
    unmappable: tuple[Conflict, ...]
    deleted: bool


def pulled_fields(mapping: ObjectMapping) -> list[str]:
    """Every CRM field a pull must read for this object: match keys and pulled consent fields."""
    names = [mapping.match.email]
    if mapping.match.phone:
        names.append(mapping.match.phone)
    names += [name for name, f in mapping.fields.items() if f.pulls and f.kind == "property"]
    return list(dict.fromkeys(names))


def match_keys(mapping: ObjectMapping, fields: Mapping[str, Any]) -> MatchKeys:
    """The record's normalized email and phone (None where missing or malformed)."""
    email = try_normalize_email(fields.get(mapping.match.email))
    phone = None
    raw_phone = fields.get(mapping.match.phone) if mapping.match.phone else None
    if isinstance(raw_phone, str) and raw_phone.strip():
        try:
            phone = normalize_phone(raw_phone)
        except ValueError:
            phone = None
    return MatchKeys(email=email, phone=phone)


def observe(
    system: str, mapping: ObjectMapping, record: Record, observed_at: datetime
) -> MappedRecord:
    """Map one record to observations, one per pulled consent field present in the record."""
    link = LinkKey(system, record.object_type, record.record_id)
    observations: list[Observation] = []
    unmappable: list[Conflict] = []
    for name, field_mapping in mapping.fields.items():
        if not field_mapping.pulls or name not in record.fields:
            continue
        raw = record.fields[name]
        status = field_mapping.status_for(raw)
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


def targets(mappings: Mapping[str, SystemMapping]) -> Targets:
    """What every pushed field holds for each canonical status it can be written.

    An opt-out checkbox holds `not_opted_out` for a grant (unticked); a HubSpot subscription
    holds nothing for `not_opted_out` (it is never written as an opt-in).
    """
    out: dict[tuple[str, str, str], Mapping[Status, Status]] = {}
    for system, system_mapping in mappings.items():
        for object_type, obj in system_mapping.objects.items():
            for purpose in {f.purpose for f in obj.fields.values()}:
                found = obj.pushed_field(purpose)
                if found is None:
                    continue
                held = {
                    s: found[1].held(s)
                    for s in (Status.GRANTED, Status.NOT_OPTED_OUT, Status.DENIED)
                }
                out[(system, object_type, purpose)] = {
                    s: h for s, h in held.items() if h is not None
                }
    return out


def render(mapping: ObjectMapping, purpose: str, status: Status) -> tuple[str, Any] | None:
    """The (field, raw value) that writes `status` for `purpose`, or None if not representable."""
    found = mapping.pushed_field(purpose)
    if found is None:
        return None
    name, field_mapping = found
    try:
        return name, field_mapping.raw_for(status)
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


def _unmappable(link: LinkKey, name: str, field_mapping: FieldMapping, raw: Any) -> Conflict:
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
