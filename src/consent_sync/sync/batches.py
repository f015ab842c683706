"""The pusher's and the puller's bookkeeping over plain records: which fields a read could not
read, how a batch's values group into record writes, what to log about unparseable values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from consent_sync.config import ConnectorConfig, ObjectMapping, SystemMapping
from consent_sync.config.connector_settings import DeclarativeConnector
from consent_sync.domain.model import Evidence, Status
from consent_sync.domain.records import Decided, FieldWrite, Record
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


def read_back(
    connector: ConnectorConfig, object_type: str, items: Sequence[OutboxItem]
) -> list[OutboxItem]:
    """The items whose records are read back before they are written: all of them, or, for a
    declarative stream whose `write.read_back` is `grants`, those that write anything but a
    denial (a denial cannot overwrite a revocation; docs/connectors.md, "write")."""
    if not isinstance(connector, DeclarativeConnector):
        return list(items)
    stream = connector.streams.get(object_type)
    if stream is None or stream.write is None or stream.write.read_back != "grants":
        return list(items)
    return [item for item in items if item.status is not Status.DENIED]


def grouped(items: Sequence[OutboxItem]) -> dict[str, list[OutboxItem]]:
    grouped: dict[str, list[OutboxItem]] = {}
    for item in items:
        grouped.setdefault(item.link.object_type, []).append(item)
    return grouped


def field_write(
    record_id: str,
    values: Mapping[str, object],
    grants: Mapping[str, Evidence | None],
    email: str | None = None,
    decided: Mapping[str, Decided] | None = None,
) -> FieldWrite:
    """One record's values, with the evidence its grant was decided with (none is invented),
    its email as last read (for systems that address a write by email) and, where the system
    records them, when and where each value was decided."""
    made = decided or {}
    proof = grants.get(record_id)
    if proof is None:
        return FieldWrite(record_id, values, email=email, decided=made)
    return FieldWrite(
        record_id,
        values,
        legal_basis=proof.legal_basis,
        explanation=proof.note,
        email=email,
        decided=made,
    )


def records_decisions(mapping: SystemMapping) -> bool:
    """Whether a system keeps consent records, which record when and where each decision was
    made (docs/design.md, "Salesforce consent records")."""
    return any(obj.kind == "consent_records" for obj in mapping.objects.values())


def decided_as(evidence: Mapping[int, Evidence], decision_seq: int | None) -> Decided | None:
    """When and where a queued value's decision was made, from its ledger row's evidence."""
    proof = evidence.get(decision_seq) if decision_seq is not None else None
    return Decided(proof.captured_at, proof.source) if proof is not None else None
