"""The unit of work: a batch of subjects' observations reconciled and recorded together."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from sqlmodel import Session

from consent_sync.domain.identity import MatchKeys, normalize_email
from consent_sync.domain.model import (
    MANUAL_PREFIX,
    Conflict,
    ConflictKind,
    Evidence,
    LinkKey,
    Observation,
    Purpose,
    Resolution,
    Status,
    Targets,
    TimeKind,
)
from consent_sync.domain.reconcile import reconcile
from consent_sync.store import (
    conflicts,
    drift,
    holdings,
    ledger,
    links,
    queueing,
    reclassify,
    relink,
    snapshot,
)
from consent_sync.store.db import Transactions
from consent_sync.store.errors import (
    ConflictNotResolvableError,
    DecisionRefusedError,
    UnknownPurposeError,
    UnlinkedObservationError,
)
from consent_sync.store.propagate import propagate
from consent_sync.store.reclassify import Chunk, Rules
from consent_sync.store.tables import ConflictRow
from consent_sync.store.types import utc

#: An observation and the id of the link it was read from (None for manual and API decisions).
Sighting = tuple[Observation, int | None]


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one batch of observations did to the store."""

    observations: int
    unmatched: int  # observations of records with no link and no email to link them by
    subjects: int
    decisions: int
    conflicts: int
    queued: int
    relinked: int  # records whose email change moved them to a new subject
    conflict_kinds: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Applied:
    """What one subject's unit of work recorded."""

    subject_id: uuid.UUID
    resolutions: tuple[Resolution, ...]
    ledger_seqs: tuple[int, ...]
    conflict_ids: tuple[int, ...]
    queued: int  # outbox rows created or re-coalesced


def apply(
    session: Session,
    subject_id: uuid.UUID,
    sightings: Sequence[Sighting],
    purposes: Mapping[str, Purpose],
    now: datetime,
    targets: Targets | None = None,
) -> Applied:
    """`apply_many` for one subject."""
    (applied,) = apply_many(session, {subject_id: sightings}, purposes, now, targets)
    return applied


def apply_many(
    session: Session,
    batch: Mapping[uuid.UUID, Sequence[Sighting]],
    purposes: Mapping[str, Purpose],
    now: datetime,
    targets: Targets | None = None,
) -> list[Applied]:
    """Reconcile each subject's sightings per purpose and record everything the rule concluded.

    Writes ledger rows, canonical state, conflicts, shadows and coalesced outbox rows for every
    subject of the batch, in batch order; the caller owns the transaction, so either all of it
    lands or none. `targets` says what each field holds for a canonical status (None: every
    field holds every status as is).
    """
    groups = _groups(batch, purposes)
    subject_ids = list(batch)
    snapshot.lock(session, subject_ids)
    loaded = snapshot.load(session, subject_ids)
    resolutions = [
        reconcile(
            purposes[name],
            loaded.canonical(subject_id, name),
            [(o, loaded.shadow(link_id, name)) for o, link_id in group],
            holdings.Held(loaded, subject_id, name, group),
        )
        for subject_id, name, group in groups
    ]
    pairs = [(s, d) for (s, _, _), r in zip(groups, resolutions, strict=True) for d in r.decisions]
    seqs = iter(ledger.append(session, pairs, now))
    plan = queueing.Plan()
    found: list[tuple[uuid.UUID, Conflict, int | None]] = []
    done = {subject_id: _Done() for subject_id in batch}
    for (subject_id, name, group), resolution in zip(groups, resolutions, strict=True):
        new_seqs = [next(seqs) for _ in resolution.decisions]
        state = loaded.save_state(subject_id, resolution, new_seqs, now)
        link_ids = {o.link: lid for o, lid in group if o.link is not None and lid is not None}
        found.extend(
            (subject_id, c, link_ids.get(c.link) if c.link else None) for c in resolution.conflicts
        )
        for observation, link_id in group:
            if link_id is not None:
                loaded.see(link_id, name, observation.status, now)
        subject = done[subject_id]
        subject.resolutions.append(resolution)
        subject.seqs.extend(new_seqs)
        subject.conflicts += len(resolution.conflicts)
        subject.queued += propagate(
            loaded, plan, subject_id, name, resolution.canonical, state, now, targets
        )
    conflict_ids = iter(conflicts.record_many(session, found, now))
    snapshot.write(session, loaded)
    queueing.write(session, plan)
    return [
        Applied(
            subject_id,
            tuple(d.resolutions),
            tuple(d.seqs),
            tuple(next(conflict_ids) for _ in range(d.conflicts)),
            d.queued,
        )
        for subject_id, d in done.items()
    ]


@dataclass(slots=True)
class _Done:
    resolutions: list[Resolution] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    conflicts: int = 0
    queued: int = 0


def _groups(
    batch: Mapping[uuid.UUID, Sequence[Sighting]], purposes: Mapping[str, Purpose]
) -> list[tuple[uuid.UUID, str, list[Sighting]]]:
    """Each subject's sightings per purpose: subjects in batch order, purposes sorted."""
    groups: list[tuple[uuid.UUID, str, list[Sighting]]] = []
    for subject_id, sightings in batch.items():
        by_purpose: dict[str, list[Sighting]] = {}
        for sighting in sightings:
            by_purpose.setdefault(sighting[0].purpose, []).append(sighting)
        for name in sorted(by_purpose):
            if name not in purposes:
                raise UnknownPurposeError(name)
            groups.append((subject_id, name, by_purpose[name]))
    return groups


class Decisions:
    """What changes canonical state (`store.decisions`): ingestion, manual decisions, repairs."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def ingest(
        self,
        observations: Sequence[Observation],
        match_keys: Mapping[LinkKey, MatchKeys],
        purposes: Mapping[str, Purpose],
        now: datetime,
        targets: Targets | None = None,
    ) -> IngestReport:
        """Resolve each record to its subject, then reconcile and record the observations of
        every subject in one transaction (ledger, state, conflicts, shadows, outbox).

        `match_keys` gives each record's normalized email/phone; a record already linked needs
        none. Observations of records that cannot be linked are counted as unmatched. Links and
        subjects are resolved first and committed on their own, as before any decision; the
        decisions of the batch then land all together or, if anything fails, not at all.
        `targets` (from the mappings) says what each field holds for a canonical status.
        """
        now = utc(now)
        records: dict[LinkKey, MatchKeys] = {}
        for observation in observations:
            if observation.link is None:
                raise UnlinkedObservationError(observation.source, observation.purpose)
            records.setdefault(observation.link, match_keys.get(observation.link, MatchKeys()))
        with self._transactions.write() as session:
            identified = links.resolve_many(session, records, now)
            if self._transactions.dry_run:  # nothing resolved is kept: decide before it goes
                return _report(observations, identified, session, purposes, now, targets)
        with self._transactions.write() as session:
            return _report(observations, identified, session, purposes, now, targets)

    def record(
        self,
        email: str,
        observation: Observation,
        purposes: Mapping[str, Purpose],
        now: datetime,
        targets: Targets | None = None,
    ) -> Applied:
        """Apply a decision made outside any CRM (manual, preference centre) through the rule.

        The subject is found by email, or created.
        """
        now = utc(now)
        with self._transactions.write() as session:
            subject_id = links.subject_for_email(session, normalize_email(email), now)
            applied = apply(session, subject_id, [(observation, None)], purposes, now, targets)
            refuse_blocked(applied)  # rolls the transaction back: nothing half-applied
            return applied

    def resolve_conflict(
        self,
        conflict_id: int,
        status: Status,
        *,
        by: str,
        note: str,
        purposes: Mapping[str, Purpose],
        now: datetime,
        targets: Targets | None = None,
    ) -> Applied:
        """Settle a conflict with a `manual:<by>` decision that propagates like any other."""
        now = utc(now)
        who = by.removeprefix(MANUAL_PREFIX)
        source = f"{MANUAL_PREFIX}{who}"
        with self._transactions.write() as session:
            row = _open_conflict(session, conflict_id)
            if row.kind == ConflictKind.IDENTITY_AMBIGUOUS.value:
                reason = "it is about identity: merge the record or keep it apart"
                raise ConflictNotResolvableError(conflict_id, reason)
            if row.subject_id is None or row.purpose is None:
                raise ConflictNotResolvableError(conflict_id, "it names no subject and purpose")
            evidence = Evidence(
                source=source,
                collection_method="conflict_resolution",
                actor=who,
                captured_at=now,
                note=note,
                extra=MappingProxyType({"conflict_id": str(conflict_id)}),
            )
            decision = Observation(
                source, None, row.purpose, status, now, TimeKind.ASSERTED, evidence
            )
            applied = apply(session, row.subject_id, [(decision, None)], purposes, now, targets)
            refuse_blocked(applied)
            seq = applied.ledger_seqs[-1] if applied.ledger_seqs else None
            conflicts.close(session, row, by=who, note=note, resolution_seq=seq, now=now)
            return applied

    def resolve_identity(
        self,
        conflict_id: int,
        *,
        merge: bool,
        by: str,
        note: str,
        purposes: Mapping[str, Purpose],
        now: datetime,
        targets: Targets | None = None,
    ) -> Applied | None:
        """Settle an `identity_ambiguous` conflict (docs/design.md, "Identity"): merge the record
        into the subject of its new email, carrying every denial over as a ledger row, or keep
        it apart (None: the conflict is closed with the note, nothing else changes)."""
        now = utc(now)
        who = by.removeprefix(MANUAL_PREFIX)
        with self._transactions.write() as session:
            row = _open_conflict(session, conflict_id)
            if not merge:
                relink.keep_apart(session, row, by=who, note=note, now=now)
                return None
            move = relink.merge(session, row, by=who, note=note, now=now)
            sightings = [(denial, None) for denial in move.denials]
            applied = apply(session, move.subject_id, sightings, purposes, now, targets)
            queued = relink.catch_up(session, move, now, targets)
            seq = applied.ledger_seqs[-1] if applied.ledger_seqs else None
            conflicts.close(session, row, by=who, note=note, resolution_seq=seq, now=now)
            return replace(applied, queued=applied.queued + queued)

    def record_conflicts(self, found: Sequence[Conflict], now: datetime) -> int:
        """Record conflicts found outside reconciliation (unmappable values, drift).

        A conflict already open for the same kind, link, purpose and detail is not repeated,
        so a value that stays unreadable is reported once, not once per pull.
        """
        recorded = 0
        with self._transactions.write() as session:
            for conflict in found:
                link = links.find_link(session, conflict.link) if conflict.link else None
                if conflicts.is_open(session, conflict):
                    continue
                subject_id = link.subject_id if link else None
                conflicts.record(session, subject_id, conflict, link.id if link else None, utc(now))
                recorded += 1
        return recorded

    def repair_drift(
        self,
        held: Sequence[tuple[LinkKey, str, Status]],
        now: datetime,
        targets: Targets | None = None,
    ) -> int:
        """After a read-back: re-queue canonical values the systems still do not hold (drift)."""
        with self._transactions.write() as session:
            return drift.repair(session, held, utc(now), targets)

    def end_link(self, key: LinkKey, now: datetime) -> bool:
        """A record was deleted in its system: end its link and drop its pending writes."""
        with self._transactions.write() as session:
            return links.end_link(session, key, utc(now))

    def reclassify_grants(
        self, rules: Rules, now: datetime, *, chunk: int = 500
    ) -> Iterator[Chunk]:
        """Turn canonical grants read from fields that cannot say `granted` (an unticked opt-out
        box, under the current mappings: `rules`) into `not_opted_out`, chunk by chunk.

        Each chunk is one transaction (rolled back in a dry run): a `reclassified` ledger row
        per state, the state, and the subject's pending or withheld opt-ins of that purpose
        dropped. Yields each chunk once committed, with the opt-ins already delivered from those
        grants. Running it again finds nothing.
        """
        now, after = utc(now), None
        while True:
            with self._transactions.write() as session:
                done = reclassify.run_chunk(session, rules, after, now, chunk)
            yield done
            if done.next_after is None:
                return
            after = done.next_after

    def count_reclassifiable(self, rules: Rules) -> int:
        """How many canonical grants `reclassify_grants` would reclassify (one count query)."""
        with self._transactions.read() as session:
            return reclassify.count(session, rules)


def _open_conflict(session: Session, conflict_id: int) -> ConflictRow:
    """The conflict, locked; ConflictNotResolvableError if it was resolved already."""
    row = conflicts.get(session, conflict_id, lock=True)
    if row.status != "open":
        reason = f"it was resolved by {row.resolved_by} at {row.resolved_at}"
        raise ConflictNotResolvableError(conflict_id, reason)
    return row


def refuse_blocked(applied: Applied) -> None:
    """A manual decision the rule blocked is refused with the rule's reason, not recorded."""
    for resolution in applied.resolutions:
        for verdict in resolution.verdicts:
            if verdict.outcome == "blocked":
                reason = "; ".join(c.message for c in verdict.conflicts) or "blocked by the rule"
                raise DecisionRefusedError(resolution.purpose, reason)


def _report(
    observations: Sequence[Observation],
    identified: links.Identified,
    session: Session,
    purposes: Mapping[str, Purpose],
    now: datetime,
    targets: Targets | None,
) -> IngestReport:
    """Reconcile and record the observations of every resolved subject, and say what it did."""
    resolved = identified.links
    by_subject: dict[uuid.UUID, list[Sighting]] = {}
    unmatched = 0
    for observation in observations:
        found = resolved[observation.link] if observation.link else None
        if found is None:
            unmatched += 1
            continue
        by_subject.setdefault(found.subject_id, []).append((observation, found.link_id))
    applied = apply_many(session, by_subject, purposes, now, targets) if by_subject else []
    kinds = Counter(c.kind.value for a in applied for r in a.resolutions for c in r.conflicts)
    kinds.update(c.kind.value for c in identified.conflicts)
    return IngestReport(
        observations=len(observations),
        unmatched=unmatched,
        subjects=len(by_subject),
        decisions=sum(len(a.ledger_seqs) for a in applied),
        conflicts=sum(len(a.conflict_ids) for a in applied) + len(identified.conflicts),
        queued=sum(a.queued for a in applied),
        relinked=sum(1 for r in resolved.values() if r is not None and r.relinked),
        conflict_kinds=MappingProxyType(dict(kinds)),
    )
