"""Systems whose runs keep failing: counted from `sync_runs`, for `/readyz` and `/metrics`.

A failing streak is counted per system and kind of run (pull, push, sweep, webhook): the pusher
runs every few seconds and mostly has nothing to do, so its idle successes must not hide a pull
that fails every minute. Runs still going are skipped. The count comes from the store, so every
replica reports the same truth whichever one ran the units; it looks back over the newest
`WINDOW` runs of all systems, so a streak longer than that window reads as that long.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from consent_sync.redaction import redact_text
from consent_sync.store import Store

#: Consecutive failed runs of one kind after which `/readyz` names the system.
FAILING_AFTER = 3
WINDOW = 1000  # newest runs looked through (a pull a minute and a push every 5 s: ~35 minutes)
_REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class FailingRuns:
    """A run kind of one system whose newest finished runs failed, and why the latest did."""

    system: str
    kind: str
    consecutive: int
    since: datetime  # when the first run of the streak started
    reason: str  # the newest failure's error, redacted

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "kind": self.kind,
            "consecutive_failed_runs": self.consecutive,
            "failing_since": self.since.isoformat(),
            "last_error": self.reason,
        }


def streaks(runs: Sequence[Any]) -> dict[tuple[str, str], FailingRuns | None]:
    """Per (system, kind) among `runs` (newest first, as `sync_runs` rows): its failing streak,
    or None when its newest finished run succeeded."""
    out: dict[tuple[str, str], FailingRuns | None] = {}
    closed: set[tuple[str, str]] = set()
    for run in runs:
        key = (run.system, run.kind)
        if run.finished_at is None or key in closed:
            continue
        if run.error is None:
            out.setdefault(key, None)
            closed.add(key)
            continue
        known = out.get(key)
        if known is None:
            reason = redact_text(run.error)[:_REASON_MAX]
            out[key] = FailingRuns(run.system, run.kind, 1, run.started_at, reason)
        else:
            out[key] = FailingRuns(
                known.system, known.kind, known.consecutive + 1, run.started_at, known.reason
            )
    return out


def failing_runs(store: Store, at_least: int = 1) -> list[FailingRuns]:
    """Every (system, kind) whose newest `at_least` or more finished runs all failed."""
    found = streaks(store.views.recent_runs(None, WINDOW))
    return sorted(
        (f for f in found.values() if f is not None and f.consecutive >= at_least),
        key=lambda f: (f.system, f.kind),
    )


class FailingRunsCollector(Collector):
    """`consent_sync_consecutive_failed_runs{system, kind}`, read from the store at scrape time."""

    def __init__(self, store: Store, systems: tuple[str, ...]) -> None:
        self.store = store
        self.systems = systems

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "consent_sync_consecutive_failed_runs",
            "Finished runs of a system, by kind, that failed in a row (0 once one succeeds)",
            labels=["system", "kind"],
        )
        try:
            found = streaks(self.store.views.recent_runs(None, WINDOW))
        except SQLAlchemyError:
            return  # consent_sync_store_up says the store is away
        for (system, kind), streak in sorted(found.items()):
            if system in self.systems:
                gauge.add_metric([system, kind], streak.consecutive if streak else 0)
        yield gauge


def readiness_detail(engine: Engine) -> list[dict[str, Any]]:
    """What `/readyz` says about failing systems: each (system, kind) failing `FAILING_AFTER`
    times or more in a row, with why; empty when none is (or the store cannot say)."""
    try:
        return [f.to_json() for f in failing_runs(Store(engine), FAILING_AFTER)]
    except SQLAlchemyError:
        return []  # the database check reports it
