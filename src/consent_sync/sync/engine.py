"""One sync cycle for one system: pull → map → reconcile → commit, then push the outbox.

Data flows one way: the connector returns records, the mapping turns them into observations,
the store reconciles and commits them (one transaction per page) and queues writes, and the
pusher drains the queue back through the connector. The cursor advances only after a page's
decisions are committed, so a crash re-reads rather than skips.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import structlog

from consent_sync.config import DeploymentConfig, ObjectMapping
from consent_sync.connectors.protocol import (
    Connector,
    QuotaExhausted,
    ResumablePull,
    TransientError,
)
from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.mapping import observe, render, targets
from consent_sync.domain.model import Conflict, Evidence, LinkKey, Observation, Status
from consent_sync.domain.records import (
    Created,
    Decided,
    Page,
    Record,
    WriteResult,
    unreadable_conflicts,
)
from consent_sync.store import Store
from consent_sync.store.outbox import OutboxItem
from consent_sync.sync.batches import (
    decided_as,
    field_write,
    grouped,
    log_unreadable,
    pulled_purposes,
    read_back,
    records_decisions,
    unread_fields,
)
from consent_sync.sync.prefetch import Prefetched, prefetched
from consent_sync.sync.recent import FRESH_FOR, RecentReads, stamps_every_change
from consent_sync.sync.report import CycleReport
from consent_sync.sync.runs import recorded_run, run_error

__all__ = ["PUSH_BATCH", "Progress", "SyncEngine", "retry_wait", "utcnow"]

log = structlog.get_logger(__name__)

PUSH_BATCH = 200


def push_batch(connector: object) -> int:
    """How many due writes one push round claims: what one write call of the connector takes
    where it says (`write_batch_size()`: Mailchimp's 500, a Dataverse `$batch`'s 1,000), else
    PUSH_BATCH."""
    size = getattr(connector, "write_batch_size", None)
    answer = size() if callable(size) else None
    return answer if isinstance(answer, int) and answer > 0 else PUSH_BATCH


RETRY_BASE = timedelta(seconds=30)
RETRY_CEILING = timedelta(hours=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def retry_wait(attempts: int, rng: random.Random) -> timedelta:
    """How long a write that failed `attempts` times before waits: exponential, capped, jittered.

    "Equal jitter": uniform between half and all of RETRY_BASE * 2**attempts (at most
    RETRY_CEILING), so writes that failed together (one outage, one batch, every replica) come
    due spread out instead of all at once, and none sooner than half its backoff.
    """
    capped: timedelta = min(RETRY_CEILING, RETRY_BASE * (2 ** min(attempts, 10)))
    return capped * rng.uniform(0.5, 1.0)


Progress = Callable[[str, int], None]

#: How new the copy a named read got of a record it no longer finds is: newer than any copy.
_GONE = datetime.max.replace(tzinfo=UTC)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(eq=False, slots=True)
class _Pulling:
    """A pull of one system in progress: the page it is fetching ahead, the records a read of
    named records (`read_named`, from its `progress`) read meanwhile, with how new each was, and
    those a push from its `progress` read back or wrote, with the local time since when the
    store holds what the system has (docs/design.md, "Revocations during a long pull")."""

    pages: Prefetched[Page] | None = None
    named: dict[tuple[str, str], datetime] = field(default_factory=dict)
    pushed: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def fresh(self, object_type: str, page: Page) -> list[Record]:
        """The records of a pulled page newer than any copy a named read or a push committed
        during this pull: the others are older reads of the same record arriving late."""
        if not self.named and not self.pushed:
            return list(page.records)
        return [r for r in page.records if not r.readable or self._current(object_type, r, page)]

    def _current(self, object_type: str, record: Record, page: Page) -> bool:
        key = (object_type, record.record_id)
        pushed = self.pushed.get(key)
        if pushed is not None and (page.as_of is None or page.as_of < pushed):
            return False  # the page's data was taken before the push read or wrote the record
        return _newness(record) > self.named.get(key, _NEVER)

    def note_pushed(self, object_type: str, record_ids: Iterable[str], since: datetime) -> None:
        """The store holds what the system has for these records since `since` (local time)."""
        for record_id in record_ids:
            key = (object_type, record_id)
            self.pushed[key] = max(since, self.pushed.get(key, _NEVER))


def _dated(pages: Iterable[Page]) -> Iterator[Page]:
    """The pages, each without an `as_of` of its own given the local time it was asked for (a
    connector reads a page when asked, unless it says otherwise: a query job's pages)."""
    source = iter(pages)
    try:
        while True:
            asked = utcnow()
            page = next(source, None)
            if page is None:
                return
            yield page if page.as_of is not None else replace(page, as_of=asked)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _newness(record: Record) -> datetime:
    """The latest stamp a record carries: its modification's, or one of its fields' own."""
    return max((record.modified_at, *record.field_times.values()))


class SyncEngine:
    """Runs pull and push cycles for the configured systems against one store."""

    def __init__(
        self,
        store: Store,
        config: DeploymentConfig,
        connectors: Mapping[str, Connector],
        *,
        clock: Callable[[], datetime] = utcnow,
        progress: Progress | None = None,
        rng: random.Random | None = None,
        fresh_for: timedelta = FRESH_FOR,
    ) -> None:
        """`fresh_for`: how long a record this engine read counts as read for the pusher, which
        then writes it without reading it back first (sync/recent.py; zero: always read back)."""
        self.store = store
        self.config = config
        self.connectors = connectors
        self.clock = clock
        self.progress = progress
        self.rng = rng or random.Random()
        self.targets = targets(config.mappings)
        self.recent = RecentReads(
            fresh_for,
            lambda system, object_type: stamps_every_change(connectors[system], object_type),
        )
        self._pull_started: dict[str, datetime] = {}  # per system: when its latest pull began
        self._pulling: dict[str, _Pulling] = {}  # per system: its pull in progress

    def cycle(
        self, system: str, *, full: bool = False, pull: bool = True, push: bool = True
    ) -> CycleReport:
        """Pull every mapped object of `system`, then drain its outbox (either may be off).

        Recorded as one sync run (none in a dry run); an exception is logged and raised.
        """
        kind = "cycle" if pull and push else "pull" if pull else "push"
        connector = self.connectors[system]
        with recorded_run(self.store, system, kind, connector, clock=self.clock) as report:
            try:
                if pull:
                    self.pull(system, report, full=full)
                if push and not self.store.dry_run:
                    self.push(system, report)
            except Exception as exc:
                log.error("cycle failed", system=system, error=run_error(exc))
                raise
        return report

    # -- pull -----------------------------------------------------------------------------

    def pull(self, system: str, report: CycleReport, *, full: bool = False) -> None:
        """Read records changed since each object's cursor (minus lookback) and reconcile them.

        `progress` is called after each committed page; it may read named records of `system`
        there (`read_named`).
        """
        self._pull_started[system] = self.clock()
        pulling = self._pulling[system] = _Pulling()
        try:
            for object_type, mapping in self.config.mappings[system].objects.items():
                self._pull_object(system, object_type, mapping, report, full, pulling)
        finally:
            del self._pulling[system]

    def _pull_object(
        self,
        system: str,
        object_type: str,
        mapping: ObjectMapping,
        report: CycleReport,
        full: bool,
        pulling: _Pulling,
    ) -> None:
        connector = self.connectors[system]
        lookback = timedelta(seconds=self.config.connectors[system].limits.lookback_seconds)
        cursor = None if full else self.store.coordination.cursor(system, object_type)
        since = cursor - lookback if cursor is not None else None
        log.info("pull", system=system, object=object_type, since=since, full=full)
        started = self.clock()
        # A full read starts over; an incremental one follows the token the last pull left.
        resume = None
        if not full and isinstance(connector, ResumablePull):
            resume = self.store.coordination.resume_token(system, object_type)
        source = (
            connector.pull_resuming(object_type, since, resume)
            if resume is not None and isinstance(connector, ResumablePull)
            else connector.pull(object_type, since)
        )
        # Page N+1 is fetched while page N commits; the cursor still follows the commits.
        with closing(prefetched(_dated(source))) as pages:
            pulling.pages = pages
            for page in pages:
                fresh = pulling.fresh(object_type, page)
                report.records_read += len(page.records) - len(fresh)
                self._pulled(system, object_type, mapping, page, fresh, report, full, started)
                if self.progress is not None:
                    self.progress(f"{system} {object_type}", report.records_read)
        if not self.store.dry_run:
            # Complete: what it did not return had not changed (sync/recent.py, `covered`;
            # a pull resumed from a change link covers what changed since the cursor the
            # link was stored with, when the connector promises it).
            self.recent.covered(system, object_type, cursor, started)

    def _pulled(
        self,
        system: str,
        object_type: str,
        mapping: ObjectMapping,
        page: Page,
        records: Sequence[Record],
        report: CycleReport,
        full: bool,
        started: datetime,
    ) -> None:
        """Commit one pulled page (`records`: those of it to ingest), then advance the cursor
        to its watermark (and keep the token a last page carries for the next pull)."""
        self.ingest(system, mapping, records, report, read_back=full, read_at=started)
        if (page.watermark is not None or page.resume is not None) and not self.store.dry_run:
            self.store.coordination.advance_cursor(
                system, object_type, page.watermark, self.clock(), resume=page.resume
            )

    def ingest(
        self,
        system: str,
        mapping: ObjectMapping,
        records: Sequence[Record],
        report: CycleReport,
        *,
        read_back: bool = False,
        read_at: datetime | None = None,
    ) -> None:
        """Map records to observations and commit their reconciliation.

        `read_back` (a sweep or `--full`): whatever still differs from the canonical value after
        the rule, with no pending write to explain it, is drift and is queued again. `read_at`:
        when the read that returned them began; once committed, the pusher need not read them
        back for a while (`RecentReads`).
        """
        if records and not self.store.dry_run:  # what was known of them before is superseded
            at = read_at or self.clock()
            self.recent.forget(system, records[0].object_type, (r.record_id for r in records), at)
        self._ingest(system, mapping, records, report, read_back=read_back)
        if read_at is not None and records and not self.store.dry_run:
            self.recent.note(
                system,
                records[0].object_type,
                (r.record_id for r in records if r.readable and not r.unreadable),
                read_at,
            )

    def _ingest(
        self,
        system: str,
        mapping: ObjectMapping,
        records: Sequence[Record],
        report: CycleReport,
        *,
        read_back: bool,
    ) -> None:
        now = self.clock()
        observations: list[Observation] = []
        keys: dict[LinkKey, MatchKeys] = {}
        unmappable: list[Conflict] = []
        unparseable: list[Conflict] = []
        for record in records:
            if record.unreadable:
                # What would not parse is that record's conflict; the rest of it, and of the
                # page, goes on (docs/design.md, "Containment").
                report.unreadable += 1
                unparseable += unreadable_conflicts(system, record, pulled_purposes(mapping))
                if not record.readable:
                    continue
            mapped = observe(system, mapping, record, now)
            if mapped.deleted:
                if not self.store.dry_run and self.store.decisions.end_link(mapped.link, now):
                    report.links_ended += 1
                continue
            observations.extend(mapped.observations)
            keys[mapped.link] = mapped.keys
            unmappable.extend(mapped.unmappable)
        report.records_read += len(records)
        if unparseable:
            log_unreadable(system, records)
            report.conflicts["unparseable"] += self.store.decisions.record_conflicts(
                unparseable, now
            )
        if unmappable:
            report.conflicts["unmappable_value"] += self.store.decisions.record_conflicts(
                unmappable, now
            )
        if not observations:
            return
        ingested = self.store.decisions.ingest(
            observations, keys, self.config.purposes, now, self.targets
        )
        report.observations += ingested.observations
        report.unmatched += ingested.unmatched
        report.decisions += ingested.decisions
        report.queued += ingested.queued
        for kind, count in ingested.conflict_kinds.items():
            report.conflicts[kind] += count
        if read_back:
            held = [(o.link, o.purpose, o.status) for o in observations if o.link is not None]
            drifted = self.store.decisions.repair_drift(held, now, self.targets)
            if drifted:
                report.conflicts["drift"] += drifted
                report.queued += drifted

    # -- named records ----------------------------------------------------------------------

    def read_named(
        self, system: str, named: Mapping[tuple[str, str], bool], report: CycleReport
    ) -> None:
        """Read records a webhook named, ingest what exists and end the links of deleted ones.

        `named` maps (object type, record id) to whether a deletion named it. A webhook says
        which records changed, not what they hold: the values it carried are not trusted, so each
        record is read and reconciled like a pulled one; objects the mapping lacks are skipped.

        Called between two pages of a pull of `system` (from its `progress`), it first waits for
        the page that pull is fetching ahead (`settle`), and the rest of that pull skips the
        copies it brings of these records that are no newer than what this read committed (a
        page fetched ahead, or a query job's snapshot, holds them as they were before).
        """
        self.settle(system)
        pulling = self._pulling.get(system)
        connector = self.connectors[system]
        objects = self.config.mappings[system].objects
        by_object: dict[str, dict[str, bool]] = {}
        for (object_type, record_id), deleted in named.items():
            if object_type in objects:
                by_object.setdefault(object_type, {})[record_id] = deleted
        for object_type, ids in by_object.items():
            started = self.clock()
            records = connector.read(object_type, list(ids))
            self.ingest(system, objects[object_type], records, report, read_at=started)
            found = {record.record_id for record in records}
            gone = [i for i, deleted in ids.items() if deleted and i not in found]
            if pulling is not None:
                for record in records:
                    if record.readable:
                        key = (object_type, record.record_id)
                        pulling.named[key] = max(_newness(record), pulling.named.get(key, _NEVER))
                pulling.named.update(((object_type, i), _GONE) for i in gone)
            for record_id in gone:
                if self.store.decisions.end_link(
                    LinkKey(system, object_type, record_id), self.clock()
                ):
                    report.links_ended += 1

    def settle(self, system: str) -> None:
        """Wait for the page a pull of `system` in progress is fetching ahead, if any: its
        connector is then idle until that pull asks for its next page, so the pull's `progress`
        may use it (connectors are not called from two threads at once)."""
        pulling = self._pulling.get(system)
        if pulling is not None and pulling.pages is not None:
            pulling.pages.settle()

    # -- push -----------------------------------------------------------------------------

    def push(self, system: str, report: CycleReport, *, only: Status | None = None) -> None:
        """Drain the system's due writes (`only`: those of one status) in batches, reading each
        batch back first.

        Called between two pages of a pull of `system` (from its `progress`), it first waits for
        the page that pull is fetching ahead (`settle`), and the rest of that pull skips its
        copies of the records read back or written here taken before that (`_Pulling.pushed`).
        """
        self.settle(system)
        pulling = self._pulling.get(system)
        connector = self.connectors[system]
        objects = self.config.mappings[system].objects
        batch = push_batch(connector)
        seen: set[int] = set()
        unread: set[tuple[str, str, str]] = set()  # (object, record, purpose) not read back
        while True:
            now = self.clock()
            due = self.store.outbox.pending(system, batch, now, only=only)
            pending = [i for i in due if i.id not in seen]
            if not pending:
                return
            seen.update(i.id for i in pending)
            for object_type, items in grouped(pending).items():
                mapping = objects.get(object_type)
                if mapping is None:
                    for item in items:
                        self._dead(item, f"no mapping for object {object_type}", report)
                    continue
                # Read before write: a change made in the CRM since the last pull is reconciled
                # first, so a push never overwrites a revocation nobody has seen yet. Records
                # this engine read and committed within `fresh_for` are not read again, nor,
                # where the system reads records one call each and says so, those that only
                # receive a denial (which cannot overwrite a revocation).
                started = self.clock()
                checked = read_back(self.config.connectors[system], object_type, items)
                ids = self.recent.stale(
                    system,
                    object_type,
                    sorted({i.link.record_id for i in checked}),
                    started,
                    since=self._pull_started.get(system),
                )
                if not ids:
                    continue
                asked = utcnow()  # local time, as a page's `as_of`
                try:
                    records = connector.read(object_type, ids)
                except QuotaExhausted:
                    log.warning("quota exhausted; writes wait", system=system)
                    return
                self.ingest(system, mapping, records, report, read_at=started)
                if pulling is not None:
                    pulling.note_pushed(object_type, ids, asked)
                unread |= unread_fields(object_type, mapping, ids, records)
            claimed = self.store.outbox.due(system, batch, self.clock(), only=only)
            claimed = [i for i in claimed if i.id in seen]
            for object_type, items in grouped(claimed).items():
                mapping = objects[object_type]
                if not self._write(system, mapping, object_type, items, report, unread):
                    return

    def _write(
        self,
        system: str,
        mapping: ObjectMapping,
        object_type: str,
        items: list[OutboxItem],
        report: CycleReport,
        unread: AbstractSet[tuple[str, str, str]],
    ) -> bool:
        """Write one object's items; False when the system is out of quota (stop pushing).

        A value whose field could not be read back is written only if it is a denial (which
        cannot overwrite a revocation); anything else waits for a readable read-back.
        """
        connector = self.connectors[system]
        # A system keeping consent records records when and where each decision was made.
        provenance = records_decisions(self.config.mappings[system])
        evidence = self.store.views.evidence(
            [
                i.decision_seq
                for i in items
                if i.decision_seq and (provenance or i.status is Status.GRANTED)
            ]
        )
        decided: dict[str, dict[str, Decided]] = {}
        writes: dict[str, dict[str, object]] = {}
        emails: dict[str, str | None] = {}
        grants: dict[str, Evidence | None] = {}
        per_record: dict[str, list[OutboxItem]] = {}
        for item in items:
            if item.status is not Status.DENIED and (
                (object_type, item.link.record_id, item.purpose) in unread
            ):
                self._retry(item, "waits: its field could not be read back (unparseable)", report)
                continue
            rendered = render(mapping, item.purpose, item.status)
            if rendered is None:
                self._dead(
                    item, f"the mapping cannot write {item.status} for {item.purpose}", report
                )
                continue
            record_id = item.link.record_id
            if item.status is Status.GRANTED:
                # A grant travels with its own decision's evidence; one record write carries
                # one set of it, so a second grant decided differently waits for the next batch.
                proof = evidence.get(item.decision_seq) if item.decision_seq else None
                if record_id in grants and grants[record_id] != proof:
                    self._retry(item, "waits for a grant with other evidence", report)
                    continue
                grants[record_id] = proof
            name, raw = rendered
            writes.setdefault(record_id, {})[name] = raw
            if provenance and (made := decided_as(evidence, item.decision_seq)) is not None:
                decided.setdefault(record_id, {})[name] = made
            emails[record_id] = item.email
            per_record.setdefault(record_id, []).append(item)
        batch = [
            field_write(record_id, values, grants, emails.get(record_id), decided.get(record_id))
            for record_id, values in writes.items()
        ]
        if not batch:
            return True
        now = self.clock()
        try:
            results = connector.write(object_type, batch)
        except QuotaExhausted as exc:
            for item in items:
                self._retry(item, str(exc), report)
            return False
        except TransientError as exc:
            for item in items:
                self._retry(item, str(exc), report)
            return True
        written = [
            item for result in results if result.ok for item in per_record.get(result.record_id, [])
        ]
        if (pulling := self._pulling.get(system)) is not None:
            pulling.note_pushed(object_type, (i.link.record_id for i in written), utcnow())
        created = [
            (per_record[result.record_id][0], made)
            for result in results
            if result.ok and per_record.get(result.record_id)
            for made in result.created
        ]
        self._written(written, report, now, created)
        for result in results:
            if not result.ok:
                for item in per_record.get(result.record_id, []):
                    self._settle(item, result, report, now)
        return True

    def _written(
        self,
        items: list[OutboxItem],
        report: CycleReport,
        now: datetime,
        created: Sequence[tuple[OutboxItem, Created]] = (),
    ) -> None:
        """Settle every value the system accepted, and link the records its writes created
        beside them (`created`, each with the item whose write made it): one transaction for
        the whole batch."""
        if not items:
            return
        # A crash before this commit leaves the rows pending and their values claimed in the
        # shadows: written again later (idempotent), and their echo recognised meanwhile.
        self.store.outbox.mark_written_many(items, now, self.targets, created)
        report.writes_ok += len(items)
        report.applied_revocations_s.extend(
            (now - i.revoked_at).total_seconds() for i in items if i.revoked_at is not None
        )

    def _settle(
        self, item: OutboxItem, result: WriteResult, report: CycleReport, now: datetime
    ) -> None:
        """Settle a value the system did not accept (or, via `_written`, one it did)."""
        if result.ok:
            self._written([item], report, now)
        elif result.unrepresentable:
            if item.status is Status.GRANTED:
                self.store.outbox.mark_withheld(item, result.error or "not representable", now)
                report.writes_withheld += 1
                report.conflicts["grant_not_representable"] += 1
            else:  # the other values of the record: not written, so tried again
                self._retry(item, result.error or "not written", report)
        elif result.gone:
            self.store.decisions.end_link(item.link, now)
            report.links_ended += 1
        elif result.retryable:
            self._retry(item, result.error or "transient failure", report)
        else:
            self._dead(item, result.error or "rejected", report)

    def _retry(self, item: OutboxItem, error: str, report: CycleReport) -> None:
        now = self.clock()
        self.store.outbox.mark_retry(item, error, now + retry_wait(item.attempts, self.rng), now)
        report.writes_retry += 1

    def _dead(self, item: OutboxItem, error: str, report: CycleReport) -> None:
        self.store.outbox.mark_dead(item, error, self.clock())
        report.writes_dead += 1
        report.conflicts["push_rejected"] += 1
