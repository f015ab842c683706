"""Prometheus metrics of the daemon: what each run did, and what each system still owes.

Run counters are this process's own (each replica counts its runs); the backlog gauges (outbox
depth, oldest unapplied revocation, cursor lag) are read from the store at scrape time, so every
replica reports the same truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from consent_sync.store import Store
from consent_sync.sync.report import CycleReport

PREFIX = "consent_sync"


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
        for system in systems:
            for result in ("ok", "retried", "dead", "withheld"):
                self.writes.labels(system, result)
            self.records.labels(system)
            self.decisions.labels(system)
            self.api_calls.labels(system)
        r.register(_BacklogCollector(store, systems, clock))

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

    def unit_failed(self, system: str, kind: str) -> None:
        """A unit that could not even be recorded (the database was away)."""
        self.runs.labels(system, kind, "error").inc()


class _BacklogCollector(Collector):
    """Reads outbox depth, the oldest unapplied revocation and cursor lag at scrape time."""

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
        now = self.clock()
        try:
            backlog = self.store.views.backlog()
            cursors = self.store.views.cursors()
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for system in self.systems:
            owed = backlog.get(system)
            depth.add_metric([system, "pending"], owed.pending if owed else 0)
            depth.add_metric([system, "dead"], owed.dead if owed else 0)
            since = owed.oldest_revocation if owed else None
            oldest.add_metric([system], (now - since).total_seconds() if since else 0.0)
        for (system, object_type), watermark in sorted(cursors.items()):
            lag.add_metric([system, object_type], max((now - watermark).total_seconds(), 0.0))
        yield from (up, depth, oldest, lag)
