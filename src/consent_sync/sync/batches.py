"""The pusher's and the puller's bookkeeping over plain records: which fields a read could not
read, how a batch's values group into record writes, what to log about unparseable values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from consent_sync.config import ObjectMapping
from consent_sync.domain.model import Evidence
from consent_sync.domain.records import FieldWrite, Record
from consent_sync.store.outbox import OutboxItem

log = structlog.get_logger("consent_sync.sync.engine")


def pulled_purposes(mapping: ObjectMapping) -> dict[str, str]:
    """Each pulled field of an object and its purpose."""
    return {name: f.purpose for name, f in mapping.fields.items() if f.pulls}


def unread_fields(
    object_type: str, mapping: ObjectMapping, asked: Sequence[str], records: Sequence[Record]
) -> set[tuple[str, str, str]]:
    """(object, record id, purpose) a read-back could not read: unparseable fields and broken
    records; when a record came back without a readable id, every record asked for and not
    read (it may have been any of them)."""
    purposes = {name: f.purpose for name, f in mapping.fields.items()}
    every = set(purposes.values())
    out: set[tuple[str, str, str]] = set()
    for record in records:
        if not record.readable:
            out |= {(object_type, record.record_id, p) for p in every}
        else:
            spoiled = {purposes[n] for n in record.unreadable if n in purposes}
            out |= {(object_type, record.record_id, p) for p in spoiled}
    if any(not record.record_id for record in records):
        read = {record.record_id for record in records if record.readable}
        out |= {(object_type, i, p) for i in asked if i not in read for p in every}
    return out


def log_unreadable(system: str, records: Sequence[Record]) -> None:
    """Say which records held values that would not parse, and why; never the values."""
    broken = [r for r in records if r.unreadable]
    log.warning(
        "values that would not parse: recorded as unparseable conflicts",
        system=system,
        object=broken[0].object_type,
        records=[r.record_id or "(no id)" for r in broken[:20]],
        count=len(broken),
        problems=sorted(
            {f"{name}: {u.part}: {u.reason}" for r in broken for name, u in r.unreadable.items()}
        )[:20],
    )


def grouped(items: Sequence[OutboxItem]) -> dict[str, list[OutboxItem]]:
    grouped: dict[str, list[OutboxItem]] = {}
    for item in items:
        grouped.setdefault(item.link.object_type, []).append(item)
    return grouped


def field_write(
    record_id: str, values: Mapping[str, object], grants: Mapping[str, Evidence | None]
) -> FieldWrite:
    """One record's values, with the evidence its grant was decided with (none is invented)."""
    proof = grants.get(record_id)
    if proof is None:
        return FieldWrite(record_id, values)
    return FieldWrite(record_id, values, legal_basis=proof.legal_basis, explanation=proof.note)
