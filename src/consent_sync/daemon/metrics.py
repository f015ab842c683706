"""Prometheus metrics of the daemon: what each run did, and what each system still owes.

Run counters and the time-to-apply histogram are this process's own (each replica counts its
runs and the writes it confirmed); the backlog gauges (outbox depth, dead letters, oldest
unapplied revocation, cursor lag, needs-review conflicts, quota share, last successful run) are
read from the store at scrape time, so every replica reports the same truth. The ledger gauges
say what this process's last verification of the chain found (housekeeping verifies it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from consent_sync.daemon.failing_runs import FailingRunsCollector
from consent_sync.store import Store
from consent_sync.sync.report import CycleReport

PREFIX = "consent_sync"
#: Decision → write confirmed, in seconds: from a fast push to the 10-business-day legal ceiling.
TIME_TO_APPLY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 14400, 86400, 864000)


@dataclass(frozen=True, slots=True)
class SystemSettings:
    """What a system is configured to meet: its pull interval and its revocation deadline."""

    pull_interval_s: float
    revocation_sla_s: float


class SyncMetrics:
    """Counters fed by finished runs, and a collector over the store's backlog."""

    def __init__(
        self,
        store: Store,
        systems: tuple[str, ...],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Counter(
            f"{PREFIX}_records_pulled", "Records read from a system", ["system"], registry=r
        )
        self.decisions = Counter(
            f"{PREFIX}_decisions",
            "Canonical changes from a system",
            ["system"],
            registry=r,
        )
        self.conflicts = Counter(
            f"{PREFIX}_conflicts", "Conflicts recorded, by kind", ["system", "kind"], registry=r
        )
        self.writes = Counter(
            f"{PREFIX}_writes",
            "Writes to a system, by result (ok, retried, dead)",
            ["system", "result"],
            registry=r,
        )
        self.api_calls = Counter(
            f"{PREFIX}_api_calls", "API calls made to a system", ["system"], registry=r
        )
        self.runs = Counter(
            f"{PREFIX}_runs",
            "Sync runs, by kind (pull, push, sweep) and outcome (ok, error)",
            ["system", "kind", "outcome"],
            registry=r,
        )
        self.duration = Histogram(
            f"{PREFIX}_run_duration_seconds",
            "How long a sync run took",
            ["system", "kind"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.time_to_apply = Histogram(
            f"{PREFIX}_revocation_time_to_apply_seconds",
            "From a denial's decision to its write confirmed by a system (this process's writes)",
            ["system"],
            buckets=TIME_TO_APPLY_BUCKETS,
            registry=r,
        )
        for system in systems:
            for result in ("ok", "retried", "dead", "withheld"):
                self.writes.labels(system, result)
            self.records.labels(system)
            self.decisions.labels(system)
            self.api_calls.labels(system)
            self.time_to_apply.labels(system)
        self.settings: dict[str, SystemSettings] = {}
        self.ledger = _LedgerCollector()
        r.register(_BacklogCollector(store, systems, clock))
        r.register(FailingRunsCollector(store, systems))
        r.register(_SettingsCollector(self.settings))
        r.register(self.ledger)

    def configure_system(self, system: str, settings: SystemSettings) -> None:
        """Export what `system` must meet, so alert rules compare against the configuration."""
        self.settings[system] = settings

    def ledger_verified(self, ok: bool, at: datetime) -> None:
        """Note the result of a verification of the ledger's hash chain."""
        self.ledger.result = (ok, at.timestamp())

    def observe(self, kind: str, report: CycleReport) -> None:
        """Count what one finished run did."""
        system = report.system
        self.records.labels(system).inc(report.records_read)
        self.decisions.labels(system).inc(report.decisions)
        for conflict_kind, count in report.conflicts.items():
            self.conflicts.labels(system, conflict_kind).inc(count)
        self.writes.labels(system, "ok").inc(report.writes_ok)
        self.writes.labels(system, "retried").inc(report.writes_retry)
        self.writes.labels(system, "dead").inc(report.writes_dead)
        self.writes.labels(system, "withheld").inc(report.writes_withheld)
        self.api_calls.labels(system).inc(max(report.api_calls, 0))
        outcome = "error" if report.error else "ok"
        self.runs.labels(system, kind, outcome).inc()
        self.duration.labels(system, kind).observe(report.duration_s)
        for seconds in report.applied_revocations_s:
            self.time_to_apply.labels(system).observe(max(seconds, 0.0))

    def unit_failed(self, system: str, kind: str) -> None:
        """A unit that could not even be recorded (the database was away)."""
        self.runs.labels(system, kind, "error").inc()


class _SettingsCollector(Collector):
    """Each system's pull interval and revocation SLA, as configured."""

    def __init__(self, settings: dict[str, SystemSettings]) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        interval = GaugeMetricFamily(
            f"{PREFIX}_pull_interval_seconds",
            "Seconds between a system's scheduled pulls",
            labels=["system"],
        )
        sla = GaugeMetricFamily(
            f"{PREFIX}_revocation_sla_seconds",
            "How soon a denial must be written to a system (limits.revocation_sla_seconds)",
            labels=["system"],
        )
        for system, settings in sorted(self.settings.items()):
            interval.add_metric([system], settings.pull_interval_s)
            sla.add_metric([system], settings.revocation_sla_s)
        yield from (interval, sla)


class _LedgerCollector(Collector):
    """The last verification of the ledger's hash chain by this process; nothing before one."""

    def __init__(self) -> None:
        self.result: tuple[bool, float] | None = None

    def collect(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily(
            f"{PREFIX}_ledger_verification_ok",
            "1 when the last verification of the ledger's hash chain passed, 0 when it failed",
        )
        at = GaugeMetricFamily(
            f"{PREFIX}_ledger_verification_timestamp_seconds",
            "When the ledger's hash chain was last verified (Unix time)",
        )
        if self.result is not None:
            ok.add_metric([], 1.0 if self.result[0] else 0.0)
            at.add_metric([], self.result[1])
        yield from (ok, at)


class _BacklogCollector(Collector):
    """Reads outbox depth, dead letters, the oldest unapplied revocation, cursor lag,
    needs-review conflicts, quota and the last successful runs at scrape time."""

    def __init__(
        self, store: Store, systems: tuple[str, ...], clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.systems = systems
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_store_up", "1 when the store answered this scrape")
        depth = GaugeMetricFamily(
            f"{PREFIX}_outbox_depth",
            "Writes waiting for a system, by state (pending, dead)",
            labels=["system", "state"],
        )
        oldest = GaugeMetricFamily(
            f"{PREFIX}_oldest_unapplied_revocation_seconds",
            "Age of the oldest denial not yet written to a system (0 when none)",
            labels=["system"],
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_cursor_lag_seconds",
            "How far a system's incremental-sync watermark is behind now",
            labels=["system", "object"],
        )
        dead = GaugeMetricFamily(
            f"{PREFIX}_dead_letters",
            "Writes a system refused for good, waiting for a human (consent-sync outbox retry)",
            labels=["system"],
        )
        review = GaugeMetricFamily(
            f"{PREFIX}_conflicts_needs_review",
            "Open conflicts of a needs-review kind, by the system of their record",
            labels=["system"],
        )
        quota = GaugeMetricFamily(
            f"{PREFIX}_quota_used_ratio",
            "API quota used as a share of the limit, as the system last reported it",
            labels=["system"],
        )
        succeeded = GaugeMetricFamily(
            f"{PREFIX}_last_success_timestamp_seconds",
            "When a run of this kind last finished without an error (Unix time)",
            labels=["system", "kind"],
        )
        now = self.clock()
        try:
            backlog = self.store.views.backlog()
            cursors = self.store.views.cursors()
            for_review = self.store.views.open_for_review()
            quotas = self.store.views.quota()
            runs = self.store.views.latest_runs()
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for system in self.systems:
            owed = backlog.get(system)
            depth.add_metric([system, "pending"], owed.pending if owed else 0)
            depth.add_metric([system, "dead"], owed.dead if owed else 0)
            dead.add_metric([system], owed.dead if owed else 0)
            since = owed.oldest_revocation if owed else None
            oldest.add_metric([system], (now - since).total_seconds() if since else 0.0)
            review.add_metric([system], for_review.get(system, 0))
            if system in quotas:  # absent until the system reports one: unknown, not zero
                quota.add_metric([system], quotas[system].share)
            for kind, run in sorted(runs.get(system, {}).items()):
                if run.last_ok_at is not None:
                    succeeded.add_metric([system, kind], run.last_ok_at.timestamp())
        for (system, object_type), watermark in sorted(cursors.items()):
            lag.add_metric([system, object_type], max((now - watermark).total_seconds(), 0.0))
        yield from (up, depth, dead, oldest, lag, review, quota, succeeded)
