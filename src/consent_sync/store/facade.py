"""`Store`: the canonical store's public surface for the engine, the CLI and the API."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType, TracebackType

from sqlalchemy import Engine
from sqlmodel import Session

from consent_sync.domain.identity import MatchKeys, normalize_email
from consent_sync.domain.model import (
    MANUAL_PREFIX,
    Conflict,
    Evidence,
    LinkKey,
    Observation,
    Purpose,
    Status,
    Targets,
    TimeKind,
)
from consent_sync.store import (
    conflicts,
    decide,
    drift,
    links,
)
from consent_sync.store.coordination import Coordination
from consent_sync.store.db import Transactions, create_store_engine, database_url
from consent_sync.store.decide import Applied, Sighting
from consent_sync.store.errors import (
    ConflictNotResolvableError,
    DecisionRefusedError,
    UnlinkedObservationError,
)
from consent_sync.store.outbox import Outbox
from consent_sync.store.reclassify import Chunk, Rules
from consent_sync.store.reclassify import count as count_candidates
from consent_sync.store.reclassify import run_chunk as reclassify_chunk
from consent_sync.store.schema import ensure_current
from consent_sync.store.types import utc
from consent_sync.store.views import Views


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one batch of observations did to the store."""

    observations: int
    unmatched: int  # observations of records with no link and no email to link them by
    subjects: int
    decisions: int
    conflicts: int
    queued: int
    relinked: int  # records whose email change moved them to another subject
    conflict_kinds: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


class Store:
    """The canonical consent store over one database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine, *, dry_run: bool = False) -> None:
        self._transactions = Transactions(engine, dry_run)
        self.coordination = Coordination(self._transactions)
        self.outbox = Outbox(self._transactions)
        self.views = Views(self._transactions)

    @property
    def engine(self) -> Engine:
        """The database engine every facet works through."""
        return self._transactions.engine

    @property
    def dry_run(self) -> bool:
        """Whether every write transaction is rolled back."""
        return self._transactions.dry_run

    def _write(self) -> AbstractContextManager[Session]:
        return self._transactions.write()

    @classmethod
    def open(
        cls, url: str | None = None, *, check_schema: bool = True, dry_run: bool = False
    ) -> Store:
        """Connect to `url` (default: `CONSENT_SYNC_DATABASE_URL` or the SQLite file).

        Raises SchemaOutdatedError unless the schema is current (skip with `check_schema`).
        """
        engine = create_store_engine(url or database_url())
        if check_schema:
            try:
                ensure_current(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(engine, dry_run=dry_run)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- decisions ---------------------------------------------------------------------------

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
        with self._write() as session:
            resolved = links.resolve_many(session, records, now)
            if self.dry_run:  # nothing resolved is kept: decide against it before it is gone
                return _report(observations, resolved, session, purposes, now, targets)
        with self._write() as session:
            return _report(observations, resolved, session, purposes, now, targets)

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
        with self._write() as session:
            subject_id = links.subject_for_email(session, normalize_email(email), now)
            applied = decide.apply(
                session, subject_id, [(observation, None)], purposes, now, targets
            )
            _refuse_blocked(applied)  # rolls the transaction back: nothing half-applied
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
        with self._write() as session:
            row = conflicts.get(session, conflict_id, lock=True)
            if row.status != "open":
                reason = f"it was resolved by {row.resolved_by} at {row.resolved_at}"
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
            applied = decide.apply(
                session, row.subject_id, [(decision, None)], purposes, now, targets
            )
            _refuse_blocked(applied)
            seq = applied.ledger_seqs[-1] if applied.ledger_seqs else None
            conflicts.close(session, row, by=who, note=note, resolution_seq=seq, now=now)
            return applied

    def record_conflicts(self, found: Sequence[Conflict], now: datetime) -> int:
        """Record conflicts found outside reconciliation (unmappable values, drift).

        A conflict already open for the same kind, link, purpose and detail is not repeated,
        so a value that stays unreadable is reported once, not once per pull.
        """
        recorded = 0
        with self._write() as session:
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
        with self._write() as session:
            return drift.repair(session, held, utc(now), targets)

    def end_link(self, key: LinkKey, now: datetime) -> bool:
        """A record was deleted in its system: end its link and drop its pending writes."""
        with self._write() as session:
            return links.end_link(session, key, utc(now))

    # -- reclassifying grants an earlier version read from opt-out boxes ---------------------

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
            with self._write() as session:
                done = reclassify_chunk(session, rules, after, now, chunk)
            yield done
            if done.next_after is None:
                return
            after = done.next_after

    def count_reclassifiable(self, rules: Rules) -> int:
        """How many canonical grants `reclassify_grants` would reclassify (one count query)."""
        with self._transactions.read() as session:
            return count_candidates(session, rules)


def _refuse_blocked(applied: Applied) -> None:
    """A manual decision the rule blocked is refused with the rule's reason, not recorded."""
    for resolution in applied.resolutions:
        for verdict in resolution.verdicts:
            if verdict.outcome == "blocked":
                reason = "; ".join(c.message for c in verdict.conflicts) or "blocked by the rule"
                raise DecisionRefusedError(resolution.purpose, reason)


def _report(
    observations: Sequence[Observation],
    resolved: Mapping[LinkKey, links.ResolvedLink | None],
    session: Session,
    purposes: Mapping[str, Purpose],
    now: datetime,
    targets: Targets | None,
) -> IngestReport:
    """Reconcile and record the observations of every resolved subject, and say what it did."""
    by_subject: dict[uuid.UUID, list[Sighting]] = {}
    unmatched = 0
    for observation in observations:
        found = resolved[observation.link] if observation.link else None
        if found is None:
            unmatched += 1
            continue
        by_subject.setdefault(found.subject_id, []).append((observation, found.link_id))
    applied = decide.apply_many(session, by_subject, purposes, now, targets) if by_subject else []
    kinds = Counter(c.kind.value for a in applied for r in a.resolutions for c in r.conflicts)
    return IngestReport(
        observations=len(observations),
        unmatched=unmatched,
        subjects=len(by_subject),
        decisions=sum(len(a.ledger_seqs) for a in applied),
        conflicts=sum(len(a.conflict_ids) for a in applied),
        queued=sum(a.queued for a in applied),
        relinked=sum(1 for r in resolved.values() if r is not None and r.relinked),
        conflict_kinds=MappingProxyType(dict(kinds)),
    )
