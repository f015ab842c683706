"""The daemon's schedule: per-system pull, push and sweep jobs, each unit of work under a lease.

One lease per system (`system:<name>`) covers its pull, push, sweep and webhook reads, so two
replicas never work on one system at once, and within this process a lock per system does the
same for its jobs. A pull that queued writes wakes every system's pusher at once; pushers also
run on a short interval for retries. Records a webhook named are queued in the store (`read_now`)
and read by a one-system read job under the lease, then unqueued. While a pull or sweep of that
system holds the lease, it reads them itself after its next committed page (`_checkpoint`), as a
webhook run of their own, so a webhook never waits for a long backfill or sweep to finish, and
writes its due revocations there too, as a push run (docs/design.md, "Processes"). A failing
unit (a CRM down, the database restarting) is logged in one line and recorded, a bug with its
traceback; the next run tries again and the process carries on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from consent_sync.config import DeploymentConfig
from consent_sync.connectors.protocol import Connector
from consent_sync.daemon.leases import Leases
from consent_sync.daemon.metrics import SyncMetrics, SystemSettings
from consent_sync.daemon.named_reads import NamedReads
from consent_sync.domain.model import Status
from consent_sync.logs import brief, bug_traceback
from consent_sync.store import Store, WebhookNotice
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync.sync.runs import recorded_run, run_error

log = structlog.get_logger(__name__)

PUSH_INTERVAL_S = 5.0
# Backstop: a webhook's ids queued while its read job was finishing, or by another replica; a
# pull or sweep holding the system looks at the queue this often between its pages, too.
NAMED_READ_INTERVAL_S = 5.0
JITTER = 0.3  # share of an interval
HOUSEKEEPING_INTERVAL_S = 3600.0
HOUSEKEEPING_LEASE = "housekeeping"
LEDGER_CHECK_INTERVAL_S = 3600.0  # every replica re-verifies the ledger's chain this often
MISFIRE_GRACE_S = 3600  # a pull that overran its interval still runs once, late
Work = Callable[[CycleReport], None]


class ShutdownRequested(Exception):
    """Raised between pages when the daemon is stopping: the current page is already committed.

    Control flow, not an error: it unwinds a unit of work and never leaves the scheduler, so it
    is not a `ConsentSyncError` (see `consent_sync.errors`).
    """


def lease_name(system: str) -> str:
    """The lease covering every unit of work (pull, push, sweep, webhook) of one system."""
    return f"system:{system}"


@dataclass(eq=False, slots=True)
class _Holding:
    """A unit of work this thread runs under its system's lock and lease."""

    system: str
    looked: float = field(default_factory=time.monotonic)  # when it last looked at the queue
    counted: int = 0  # API calls its runs counted (one run's calls exclude those nested in it)


class SyncScheduler:
    """Runs each enabled system's pull, push and sweep on schedule, one unit at a time."""

    def __init__(
        self,
        store: Store,
        config: DeploymentConfig,
        connectors: Mapping[str, Connector],
        leases: Leases,
        metrics: SyncMetrics,
        *,
        pull_interval: float | None = None,
        push_interval: float = PUSH_INTERVAL_S,
    ) -> None:
        self.store = store
        self.config = config
        self.systems = tuple(connectors)
        self.leases = leases
        self.metrics = metrics
        self.engine = SyncEngine(store, config, connectors, progress=self._checkpoint)
        self._connectors = connectors
        self._pull_interval = pull_interval
        self._push_interval = push_interval
        self._stopping = threading.Event()
        self._locks = {system: threading.Lock() for system in self.systems}
        self._wake = {system: threading.Event() for system in self.systems}
        self._named = NamedReads(store)
        self._named_waiting = {system: threading.Event() for system in self.systems}
        self._push_waiting = {system: threading.Event() for system in self.systems}
        self._holding = threading.local()  # .unit: the _Holding of this thread, if any
        self._active = 0
        self._idle = threading.Condition()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max(4 * len(self.systems), 1))},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": MISFIRE_GRACE_S,
            },
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule every job (the first pulls at once) and start the heartbeat."""
        now = datetime.now(UTC)
        for system in self.systems:
            schedule = self.config.connectors[system].schedule
            interval = self._pull_interval or float(schedule.pull_interval)
            sla = self.config.connectors[system].limits.revocation_sla_seconds
            self.metrics.configure_system(system, SystemSettings(interval, sla))
            self.scheduler.add_job(
                self._pull_job,
                # Jitter keeps replicas from locking into one phase where one always wins.
                IntervalTrigger(seconds=interval, timezone=UTC, jitter=interval * JITTER),
                args=[system],
                id=f"pull:{system}",
                next_run_time=now,
            )
            self.scheduler.add_job(
                self._push_job,
                IntervalTrigger(
                    seconds=self._push_interval, timezone=UTC, jitter=self._push_interval * JITTER
                ),
                args=[system],
                id=f"push:{system}",
            )
            self.scheduler.add_job(
                self._sweep_job,
                CronTrigger.from_crontab(schedule.sweep_cron, timezone=UTC),
                args=[system],
                id=f"sweep:{system}",
            )
            self.scheduler.add_job(
                self._named_read_job,
                IntervalTrigger(seconds=NAMED_READ_INTERVAL_S, timezone=UTC),
                args=[system],
                id=f"read:{system}",
            )
        self.scheduler.add_job(
            self._housekeeping_job,
            IntervalTrigger(seconds=HOUSEKEEPING_INTERVAL_S, timezone=UTC),
            id="housekeeping",
        )
        self.scheduler.add_job(
            self._ledger_job,
            IntervalTrigger(seconds=LEDGER_CHECK_INTERVAL_S, timezone=UTC),
            id="ledger",
            next_run_time=now,
        )
        self.leases.start_heartbeat()
        self.scheduler.start()
        log.info("scheduler started", systems=list(self.systems), holder=self.leases.holder)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running) and not self._stopping.is_set()

    def stop(self, grace: float) -> bool:
        """Take no more work, let running units finish (at most `grace` seconds), release leases.

        Returns whether every unit finished in time.
        """
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + grace
        with self._idle:
            while self._active and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            finished = self._active == 0
        if not finished:
            log.warning("units still running at the shutdown deadline", running=self._active)
        self.leases.stop()
        return finished

    # -- jobs ---------------------------------------------------------------------------------

    def _pull_job(self, system: str) -> None:
        report = self._unit(system, "pull", self._pull_and_push)
        if report is not None and report.queued:
            for other in self.systems:
                self.wake_push(other)

    def _pull_and_push(self, report: CycleReport) -> None:
        self.engine.pull(report.system, report)
        self.engine.push(report.system, report)

    def _sweep_job(self, system: str) -> None:
        def sweep(report: CycleReport) -> None:
            self.engine.pull(system, report, full=True)
            self.engine.push(system, report)

        report = self._unit(system, "sweep", sweep)
        if report is not None and report.queued:
            for other in self.systems:
                self.wake_push(other)

    def _housekeeping_job(self) -> None:
        """Prune old run history, long-expired leases, webhook event keys and idempotency keys;
        one replica at a time."""
        try:
            if self._stopping.is_set() or not self.leases.acquire(HOUSEKEEPING_LEASE):
                return
            try:
                now = datetime.now(UTC)
                removed = self.store.coordination.housekeep(now)
                removed.update(self.store.webhooks.prune(now))
                removed["idempotency_keys"] = self.store.tokens.prune_keys(now)
                log.info("housekeeping", **removed)
            finally:
                self.leases.release(HOUSEKEEPING_LEASE)
        except Exception as exc:
            log.error("housekeeping failed", error=brief(exc), **bug_traceback(exc))

    def _ledger_job(self) -> None:
        """Verify the ledger's hash chain (`ledger verify`) and export the result as a gauge."""
        try:
            if self._stopping.is_set():
                return
            check = self.store.views.verify_ledger()
            self.metrics.ledger_verified(check.ok, datetime.now(UTC))
            if not check.ok:
                log.error("ledger verification failed", problem=str(check.problem), rows=check.rows)
        except Exception as exc:
            log.error("ledger verification could not run", error=brief(exc), **bug_traceback(exc))

    def _push_job(self, system: str) -> None:
        # A wake that arrives while this push runs makes it go round once more, never lost.
        while not self._stopping.is_set():
            self._wake[system].clear()
            self._unit(system, "push", lambda report: self.engine.push(system, report))
            if not self._wake[system].is_set():
                return

    def wake_push(self, system: str) -> None:
        """Run `system`'s pusher now (or once more, if it is running; a pull holding the system
        writes its revocations after its next page)."""
        self._wake[system].set()
        self._push_waiting[system].set()
        if self._stopping.is_set():
            return
        job = self.scheduler.get_job(f"push:{system}")
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    def read_now(self, system: str, notices: Sequence[WebhookNotice]) -> None:
        """Queue the records a webhook named (in the store, events seen before skipped) and
        wake `system`'s read job (or the pull holding the system); returns once they are
        queued."""
        if not self._named.add(system, notices) or self._stopping.is_set():
            return
        self._named_waiting[system].set()
        job = self.scheduler.get_job(f"read:{system}")
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    def _named_read_job(self, system: str) -> None:
        # Ids named while a read runs are taken by the next round of this loop. While a pull
        # holds the system this waits for its lock; the pull reads them first (`_checkpoint`).
        while not self._stopping.is_set():
            try:
                waiting = self._named.waiting(system)
            except SQLAlchemyError as exc:
                log.warning("database unavailable; will retry", system=system, error=brief(exc))
                return
            if not waiting:
                return
            report = self._exclusive(system, "webhook", partial(self._read_named, system))
            if report is None or report.error:
                return  # still queued: the interval (or the replica holding the lease) reads them

    def _read_named(self, system: str) -> CycleReport | None:
        """Read the records queued for `system` as one webhook run, then unqueue them and wake
        the pushers; None when none were queued. The caller holds the system's lock and lease.

        A read that fails leaves them queued (the report carries its error).
        """
        taken = self._named.take(system)
        if not taken.named:
            return None
        read = partial(self.engine.read_named, system, taken.named)
        report = self._recorded(system, "webhook", read)
        if report.error:
            return report
        self._named.done(taken)
        if report.queued:
            for other in self.systems:
                self.wake_push(other)
        return report

    # -- one unit of work ---------------------------------------------------------------------

    def _unit(self, system: str, kind: str, work: Work) -> CycleReport | None:
        """Run `work` for `system` as one run under its lock and lease; None when it did not
        run."""
        return self._exclusive(system, kind, partial(self._recorded, system, kind, work))

    def _exclusive(
        self, system: str, kind: str, body: Callable[[], CycleReport | None]
    ) -> CycleReport | None:
        """Run `body` under `system`'s lock and lease; None when it did not run (or failed)."""
        if not self._enter():
            return None
        try:
            return self._contained(system, kind, partial(self._locked, system, body))
        finally:
            self._leave()

    def _locked(self, system: str, body: Callable[[], CycleReport | None]) -> CycleReport | None:
        lock = self._locks[system]
        while not lock.acquire(timeout=0.5):
            if self._stopping.is_set():
                return None
        try:
            return self._leased(system, body)
        finally:
            lock.release()

    def _contained(
        self, system: str, kind: str, body: Callable[[], CycleReport | None]
    ) -> CycleReport | None:
        """Run `body`; a failure it lets out is logged and counted, and None returned."""
        try:
            return body()
        except SQLAlchemyError as exc:
            # The database is away (restarting, unreachable): this run is lost, the next retries.
            self.metrics.unit_failed(system, kind)
            log.warning(
                "database unavailable; will retry", system=system, kind=kind, error=brief(exc)
            )
            return None
        except Exception as exc:
            self.metrics.unit_failed(system, kind)
            log.error(
                "unit of work failed",
                system=system,
                kind=kind,
                error=brief(exc),
                **bug_traceback(exc),
            )
            return None

    def _leased(self, system: str, body: Callable[[], CycleReport | None]) -> CycleReport | None:
        name = lease_name(system)
        if self._stopping.is_set() or not self.leases.acquire(name):
            return None
        self._holding.unit = _Holding(system)
        try:
            return body()
        finally:
            self._holding.unit = None
            self.leases.release(name)

    def _recorded(self, system: str, kind: str, work: Work) -> CycleReport:
        """Run `work` as one sync run (recorded, logged with its run_id, measured, counted).

        A failing run is recorded with its error and logged: in one line when the failure is
        expected (a CRM refusing, a configuration problem), with its traceback when it is a bug.
        A webhook run recorded at one of this run's checkpoints counts its own API calls.
        """
        holding = self._held()
        counted_before = holding.counted if holding is not None else 0

        def finished(report: CycleReport) -> None:
            if holding is not None:
                report.api_calls -= holding.counted - counted_before
                holding.counted += report.api_calls
            self.metrics.observe(kind, report)

        with recorded_run(
            self.store,
            system,
            kind,
            self._connectors[system],
            clock=self.engine.clock,
            on_finish=finished,
            runner=self.leases.holder,
        ) as report:
            try:
                work(report)
            except ShutdownRequested:
                report.error = "stopped by shutdown after a committed page"
            except SQLAlchemyError as exc:
                report.error = f"database error: {brief(exc)}"
                raise
            except Exception as exc:
                report.error = run_error(exc)
                log.error("run failed", kind=kind, error=report.error, **bug_traceback(exc))
        return report

    def _checkpoint(self, _label: str, _records: int) -> None:
        """Called by the engine after each committed page of a pull (`_label` is "<system>
        <object>"), on the thread of the unit pulling, which holds that system's lock and lease:
        the place to stop on shutdown, to read what webhooks named for the system meanwhile, and
        to write the revocations due to it (grants wait for its push job).
        """
        if self._stopping.is_set():
            raise ShutdownRequested
        holding = self._held()
        if holding is None:
            return
        system = holding.system
        named, pushes = self._named_waiting[system], self._push_waiting[system]
        now = time.monotonic()
        if not (named.is_set() or pushes.is_set()) and now - holding.looked < NAMED_READ_INTERVAL_S:
            return
        named.clear()
        pushes.clear()
        holding.looked = now
        # A failure is logged and leaves the records (or writes) queued; the pull goes on.
        self._contained(system, "webhook", partial(self._read_named_mid_pull, holding))
        self._contained(system, "push", partial(self._push_revocations, system))

    def _read_named_mid_pull(self, holding: _Holding) -> CycleReport | None:
        self.engine.settle(holding.system)  # the page fetched ahead is in: the connector is ours
        return self._read_named(holding.system)

    def _push_revocations(self, system: str) -> CycleReport | None:
        """Write the denials due to `system` as one push run; None when none are due."""
        if not self.store.outbox.pending(system, 1, self.engine.clock(), only=Status.DENIED):
            return None
        push = partial(self.engine.push, system, only=Status.DENIED)  # settles the prefetch
        return self._recorded(system, "push", push)

    def _held(self) -> _Holding | None:
        """The unit of work this thread runs under its system's lock and lease, if any."""
        unit: _Holding | None = getattr(self._holding, "unit", None)
        return unit

    def _enter(self) -> bool:
        with self._idle:
            if self._stopping.is_set():
                return False
            self._active += 1
            return True

    def _leave(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()
