"""Grants an earlier version read from opt-out boxes, reclassified as `not_opted_out`
(docs/design.md, "What a grant is").

Before `not_opted_out` existed, the shipped mappings read an unticked Salesforce opt-out box
(`HasOptedOutOfEmail: false`) as `granted`: a store built then holds canonical grants, and ledger
rows, that nobody gave, and may have pushed some of them to other systems as opt-ins.

A canonical state is reclassified when all of these hold:
- it is `granted`, and so is its deciding ledger row (`state.ledger_seq`);
- that row was read from a CRM field: its source is a system, its evidence's `source_record` is
  `<that system>/<object>/<id>` and its evidence's `extra.field` names the field;
- under the *current* mappings that field records this purpose and has no raw value meaning
  `granted` (an opt-out checkbox): the grant can only have come from "not opted out".

Each one gets a new ledger row (`not_opted_out`, previous `granted`, rule `reclassified`) through
the ordinary append, the canonical state follows it, and pending or withheld opt-ins of that
subject and purpose are dropped from the outbox. Ledger rows are never changed. Work goes in
chunks of states, one transaction each, paged by (subject, purpose); nothing is held in memory
beyond one chunk.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, false, func, or_, select, tuple_
from sqlalchemy import update as sql_update
from sqlalchemy.sql.selectable import Join
from sqlmodel import Session

from consent_sync.domain.mapping import SystemRule, pushed_field, raw_values_for
from consent_sync.domain.model import Decision, Evidence, Status, TimeKind
from consent_sync.store import ledger, queueing, snapshot
from consent_sync.store.tables import CONSENT_STATE, LEDGER, LINKS, OUTBOX, SHADOWS, metadata

#: The ledger source and evidence source of a reclassification.
SOURCE = "consent-sync:reclassify"
RULE = "reclassified"
CHUNK = 500

_DELIVERIES = metadata.tables["deliveries"]
_GRANTED = Status.GRANTED.value
#: Outbox states whose rows can still go out (a dead row only goes out if requeued by a human).
_DROPPED_STATES = (queueing.OutboxState.PENDING, queueing.OutboxState.WITHHELD)


@dataclass(frozen=True, slots=True)
class GrantlessField:
    """A mapped CRM field that cannot say `granted` (an opt-out box) and the purpose it records."""

    system: str
    object_type: str
    field: str
    purpose: str
    checkbox: bool  # its "not opted out" value is an unticked box (false)

    def note(self, seq: int) -> str:
        """The reclassification's evidence note for ledger row `seq`."""
        what = "an opt-out checkbox left unticked" if self.checkbox else "no objection recorded"
        return (
            f"ledger #{seq} read {self.system} {self.object_type}.{self.field} ({what}) as a "
            "grant; nobody opted in"
        )


@dataclass(frozen=True, slots=True)
class Rules:
    """What the current mappings say about old grants and about what was pushed."""

    #: (system, object type, field) -> the field, for fields without a raw value for `granted`.
    fields: Mapping[tuple[str, str, str], GrantlessField]
    #: (system, object type, purpose) whose pushed field cannot hold an opt-in: a grant written
    #: there was an unticked box, nothing to undo.
    no_opt_in: frozenset[tuple[str, str, str]]

    @classmethod
    def from_mappings(cls, mappings: Mapping[str, SystemRule]) -> Rules:
        """The rules of a configuration's mappings (keyed by system name)."""
        fields: dict[tuple[str, str, str], GrantlessField] = {}
        no_opt_in: set[tuple[str, str, str]] = set()
        for system, system_mapping in mappings.items():
            for object_type, obj in system_mapping.objects.items():
                for name, mapping in obj.fields.items():
                    if raw_values_for(mapping, Status.GRANTED):
                        continue
                    checkbox = False in raw_values_for(mapping, Status.NOT_OPTED_OUT)
                    fields[(system, object_type, name)] = GrantlessField(
                        system, object_type, name, mapping.purpose, checkbox
                    )
                for purpose in {m.purpose for m in obj.fields.values()}:
                    pushed = pushed_field(obj, purpose)
                    if pushed is not None and not raw_values_for(pushed[1], Status.GRANTED):
                        no_opt_in.add((system, object_type, purpose))
        return cls(MappingProxyType(fields), frozenset(no_opt_in))

    def deciding_field(
        self, source: str, purpose: str, evidence: Mapping[str, Any]
    ) -> GrantlessField | None:
        """The grantless field a ledger row of `source` for `purpose` was read from, if any."""
        try:
            parsed = Evidence.from_json(evidence)
        except (KeyError, TypeError, ValueError):
            return None
        system, _, rest = (parsed.source_record or "").partition("/")
        object_type, sep, _ = rest.partition("/")
        name = parsed.extra.get("field")
        if system != source or not sep or not isinstance(name, str):
            return None
        found = self.fields.get((source, object_type, name))
        return found if found is not None and found.purpose == purpose else None


@dataclass(frozen=True, slots=True)
class Reclassified:
    """One canonical grant turned into `not_opted_out`."""

    subject_id: uuid.UUID
    purpose: str
    original_seq: int  # the ledger row that read "not opted out" as a grant
    field: GrantlessField


@dataclass(frozen=True, slots=True)
class PushedOptIn:
    """An opt-in delivered to a system from a reclassified grant: to be undone in that CRM."""

    subject_id: uuid.UUID
    purpose: str
    system: str
    object_type: str
    record_id: str
    applied_at: datetime
    decision_seq: int | None


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one transaction reclassified, and where the next one starts (None: done)."""

    reclassified: tuple[Reclassified, ...]
    pushed: tuple[PushedOptIn, ...]
    dropped: int  # pending or withheld opt-ins removed from the outbox
    next_after: tuple[uuid.UUID, str] | None


def _criterion(rules: Rules) -> ColumnElement[bool]:
    """SQL for "the deciding row was read from a grantless field of this purpose"."""
    evidence = LEDGER.c.evidence
    clauses = [
        and_(
            LEDGER.c.source == found.system,
            CONSENT_STATE.c.purpose == found.purpose,
            evidence[("extra", "field")].as_string() == found.field,
            evidence["source_record"]
            .as_string()
            .startswith(f"{found.system}/{found.object_type}/", autoescape=True),
        )
        for found in rules.fields.values()
    ]
    return or_(*clauses) if clauses else false()


def _joined(rules: Rules) -> tuple[Join, ColumnElement[bool]]:
    """Granted states joined to their deciding granted ledger row, filtered to candidates."""
    return (
        CONSENT_STATE.join(
            LEDGER,
            and_(
                LEDGER.c.seq == CONSENT_STATE.c.ledger_seq,
                LEDGER.c.subject_id == CONSENT_STATE.c.subject_id,
                LEDGER.c.purpose == CONSENT_STATE.c.purpose,
            ),
        ),
        and_(
            CONSENT_STATE.c.status == _GRANTED,
            LEDGER.c.status == _GRANTED,
            _criterion(rules),
        ),
    )


def count(session: Session, rules: Rules) -> int:
    """How many canonical grants would be reclassified (one SQL count, nothing loaded)."""
    if not rules.fields:
        return 0
    joined, where = _joined(rules)
    return int(session.execute(select(func.count()).select_from(joined).where(where)).scalar_one())


def run_chunk(
    session: Session,
    rules: Rules,
    after: tuple[uuid.UUID, str] | None,
    now: datetime,
    limit: int = CHUNK,
) -> Chunk:
    """Reclassify the next `limit` candidates after `after` (subject, purpose), in `session`.

    The caller owns the transaction: the ledger rows, states and outbox deletes land together.
    """
    if not rules.fields:
        return Chunk((), (), 0, None)
    joined, where = _joined(rules)
    key = tuple_(CONSENT_STATE.c.subject_id, CONSENT_STATE.c.purpose)
    query = (
        select(
            CONSENT_STATE.c.subject_id,
            CONSENT_STATE.c.purpose,
            LEDGER.c.seq,
            LEDGER.c.source,
            LEDGER.c.evidence,
        )
        .select_from(joined)
        .where(where)
        .order_by(CONSENT_STATE.c.subject_id, CONSENT_STATE.c.purpose)
        .limit(limit)
    )
    if after is not None:
        query = query.where(key > after)
    page = session.execute(query).all()
    next_after = (page[-1].subject_id, page[-1].purpose) if len(page) == limit else None
    seen: dict[tuple[uuid.UUID, str], Reclassified] = {}
    for row in page:
        found = rules.deciding_field(row.source, row.purpose, row.evidence)
        if found is not None:
            key_of = (row.subject_id, row.purpose)
            seen[key_of] = Reclassified(row.subject_id, row.purpose, row.seq, found)
    if not seen:
        return Chunk((), (), 0, next_after)
    subject_ids = sorted({subject_id for subject_id, _ in seen})
    snapshot.lock(session, subject_ids)  # as ingestion does: no sync interleaves (PostgreSQL)
    todo = _still_granted(session, seen, subject_ids)
    if not todo:
        return Chunk((), (), 0, next_after)
    originals = _originals(session, [item.original_seq for item in todo])
    decisions = [(item.subject_id, _decision(item, originals[item.original_seq])) for item in todo]
    seqs = ledger.append(session, decisions, now)
    session.execute(
        sql_update(CONSENT_STATE)
        .where(
            CONSENT_STATE.c.subject_id == bindparam("_subject_id"),
            CONSENT_STATE.c.purpose == bindparam("_purpose"),
            CONSENT_STATE.c.ledger_seq == bindparam("_original_seq"),
        )
        .values(
            status=Status.NOT_OPTED_OUT.value,
            ledger_seq=bindparam("_seq"),
            updated_at=bindparam("_now"),
        ),
        [
            {
                "_subject_id": item.subject_id,
                "_purpose": item.purpose,
                "_original_seq": item.original_seq,
                "_seq": seq,
                "_now": now,
            }
            for item, seq in zip(todo, seqs, strict=True)
        ],
    )
    wanted = {(item.subject_id, item.purpose): item for item in todo}
    dropped = _drop_opt_ins(session, wanted)
    _forget_grants_seen(session, wanted)
    return Chunk(tuple(todo), tuple(_pushed(session, rules, wanted)), dropped, next_after)


def _still_granted(
    session: Session,
    seen: Mapping[tuple[uuid.UUID, str], Reclassified],
    subject_ids: Sequence[uuid.UUID],
) -> list[Reclassified]:
    """The candidates whose state is unchanged now that their subjects are locked."""
    todo: list[Reclassified] = []
    for part in snapshot.chunks(subject_ids):
        rows = session.execute(
            select(
                CONSENT_STATE.c.subject_id,
                CONSENT_STATE.c.purpose,
                CONSENT_STATE.c.status,
                CONSENT_STATE.c.ledger_seq,
            ).where(CONSENT_STATE.c.subject_id.in_(part))
        )
        for row in rows:
            item = seen.get((row.subject_id, row.purpose))
            if item is not None and row.status == _GRANTED and row.ledger_seq == item.original_seq:
                todo.append(item)
    todo.sort(key=lambda item: (str(item.subject_id), item.purpose))
    return todo


@dataclass(frozen=True, slots=True)
class _Original:
    decided_at: datetime
    time_kind: TimeKind


def _originals(session: Session, seqs: Sequence[int]) -> dict[int, _Original]:
    out: dict[int, _Original] = {}
    for part in snapshot.chunks(sorted(seqs)):
        rows = session.execute(
            select(LEDGER.c.seq, LEDGER.c.decided_at, LEDGER.c.time_kind).where(
                LEDGER.c.seq.in_(part)
            )
        )
        for row in rows:
            out[row.seq] = _Original(row.decided_at, TimeKind(row.time_kind))
    return out


def _decision(item: Reclassified, original: _Original) -> Decision:
    evidence = Evidence(
        source=SOURCE,
        collection_method="reclassification",
        note=item.field.note(item.original_seq),
        extra=MappingProxyType({"reclassifies": str(item.original_seq)}),
    )
    return Decision(
        purpose=item.purpose,
        status=Status.NOT_OPTED_OUT,
        previous=Status.GRANTED,
        decided_at=original.decided_at,
        time_kind=original.time_kind,
        source=SOURCE,
        link=None,
        rule=RULE,
        evidence=evidence,
    )


def _links(session: Session, subject_ids: Sequence[uuid.UUID]) -> dict[int, Any]:
    """Every link (active or not) of these subjects, by id."""
    out: dict[int, Any] = {}
    for part in snapshot.chunks(sorted(subject_ids)):
        rows = session.execute(
            select(
                LINKS.c.id,
                LINKS.c.subject_id,
                LINKS.c.system,
                LINKS.c.object_type,
                LINKS.c.record_id,
            ).where(LINKS.c.subject_id.in_(part))
        )
        out.update({row.id: row for row in rows})
    return out


def _forget_grants_seen(
    session: Session, wanted: Mapping[tuple[uuid.UUID, str], Reclassified]
) -> None:
    """Forget grants other records were seen holding that consent-sync never wrote to them.

    Such a grant (a HubSpot subscription the person gave) agreed with the fabricated one, so it
    has no ledger row of its own; read afresh at the next pull or sweep, it is decided like a
    first sight and adopted. A grant consent-sync pushed there itself is never forgotten: it is
    the opt-in ops are told to undo, not evidence.
    """
    links = _links(session, [subject_id for subject_id, _ in wanted])
    pairs = [
        {"_link_id": link_id, "_purpose": purpose}
        for link_id, link in links.items()
        for subject_id, purpose in wanted
        if link.subject_id == subject_id
    ]
    if not pairs:
        return
    session.execute(
        sql_update(SHADOWS)
        .where(
            SHADOWS.c.link_id == bindparam("_link_id"),
            SHADOWS.c.purpose == bindparam("_purpose"),
            SHADOWS.c.last_seen == _GRANTED,
            or_(SHADOWS.c.last_written.is_(None), SHADOWS.c.last_written != _GRANTED),
        )
        .values(last_seen=None, last_seen_at=None),
        pairs,
    )


def _drop_opt_ins(session: Session, wanted: Mapping[tuple[uuid.UUID, str], Reclassified]) -> int:
    """Delete pending and withheld `granted` outbox rows of the reclassified (subject, purpose)."""
    links = _links(session, [subject_id for subject_id, _ in wanted])
    doomed: list[int] = []
    for part in snapshot.chunks(sorted(links)):
        rows = session.execute(
            select(OUTBOX.c.id, OUTBOX.c.link_id, OUTBOX.c.purpose).where(
                OUTBOX.c.link_id.in_(part),
                OUTBOX.c.state.in_(_DROPPED_STATES),
                OUTBOX.c.status == _GRANTED,
            )
        )
        doomed += [row.id for row in rows if (links[row.link_id].subject_id, row.purpose) in wanted]
    for part in snapshot.chunks(doomed):
        session.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(part)))
    return len(doomed)


def _pushed(
    session: Session, rules: Rules, wanted: Mapping[tuple[uuid.UUID, str], Reclassified]
) -> list[PushedOptIn]:
    """Opt-ins delivered from the reclassified decisions, first delivery per record.

    A delivery counts when it is `granted`, of a reclassified subject and purpose, of that very
    decision (or of no recorded decision), to a field that can hold an opt-in: a grant written
    to an opt-out box only left it unticked, which is what it says now.
    """
    links = _links(session, [subject_id for subject_id, _ in wanted])
    first: dict[tuple[int, str, int | None], PushedOptIn] = {}
    for part in snapshot.chunks(sorted(links)):
        rows = session.execute(
            select(
                _DELIVERIES.c.link_id,
                _DELIVERIES.c.purpose,
                _DELIVERIES.c.decision_seq,
                _DELIVERIES.c.applied_at,
            ).where(_DELIVERIES.c.link_id.in_(part), _DELIVERIES.c.status == _GRANTED)
        )
        for row in rows:
            link = links[row.link_id]
            item = wanted.get((link.subject_id, row.purpose))
            if item is None or row.decision_seq not in (item.original_seq, None):
                continue
            if (link.system, link.object_type, row.purpose) in rules.no_opt_in:
                continue
            found = PushedOptIn(
                link.subject_id,
                row.purpose,
                link.system,
                link.object_type,
                link.record_id,
                row.applied_at,
                row.decision_seq,
            )
            key = (row.link_id, row.purpose, row.decision_seq)
            if key not in first or found.applied_at < first[key].applied_at:
                first[key] = found
    return sorted(first.values(), key=lambda p: (p.system, p.object_type, p.record_id, p.purpose))
