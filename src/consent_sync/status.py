"""Is anything late? What `consent-sync status` and the console's overview report per system.

Per system: the last pull, push and sweep (from the recorded sync runs), cursor lag, outbox depth
and dead letters, open needs-review conflicts, API quota as the connector last reported it, the
oldest unapplied revocation against the system's SLA (`limits.revocation_sla_seconds`, default
15 minutes) and time-to-apply p50/p99 over the last day. A breach is a revocation older than
the SLA, a dead letter, or a kind of run whose newest run failed. Pure reads of the store, so
the CLI and the console compute it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consent_sync.store import Store
    from consent_sync.store.views import ApplyTimes, RunSummary


def iso(value: datetime | None) -> str | None:
    """ISO 8601 or None, for JSON output."""
    return value.isoformat() if value is not None else None


#: Which recorded run kinds answer "last pull", "last push", "last sweep" (a `cycle` does both).
SHOWN_RUNS = {"pull": ("pull", "cycle"), "push": ("push", "cycle"), "sweep": ("sweep",)}
APPLY_WINDOW = timedelta(days=1)
#: How daemon/scheduler.py records a unit it stopped between committed pages: not a failure.
INTERRUPTED = "stopped by shutdown"


@dataclass
class SystemStatus:
    """What `status` reports for one system, and what of it breaches."""

    name: str
    sla_s: float
    runs: dict[str, RunSummary | None] = field(default_factory=dict)
    failing: dict[str, str] = field(default_factory=dict)  # run kind -> its newest run's error
    cursor_lag_s: dict[str, float] = field(default_factory=dict)
    pending: int = 0
    dead: int = 0
    needs_review: int = 0
    quota: tuple[int, int] | None = None  # (used, limit); None: never reported
    oldest_revocation_age_s: float | None = None
    apply: ApplyTimes | None = None

    @property
    def breaches(self) -> list[str]:
        """Why this system is late, one reason per line; empty when it is not."""
        out = []
        age = self.oldest_revocation_age_s
        if age is not None and age > self.sla_s:
            out.append(
                f"{self.name}: a revocation unapplied for {duration(age)} "
                f"(SLA {duration(self.sla_s)})"
            )
        if self.dead:
            out.append(f"{self.name}: {self.dead} dead letter(s) (consent-sync outbox list --dead)")
        out.extend(
            f"{self.name}: last {kind} failed: {error}" for kind, error in self.failing.items()
        )
        return out

    def as_data(self) -> dict[str, Any]:
        """JSON-ready data (`status --json`)."""
        return {
            "runs": {
                kind: None
                if run is None
                else {
                    "kind": run.kind,
                    "started_at": iso(run.started_at),
                    "finished_at": iso(run.finished_at),
                    "ok": run.error is None,
                    "error": redacted(run.error) if run.error else None,
                    "last_ok_at": iso(run.last_ok_at),
                }
                for kind, run in self.runs.items()
            },
            "failing_runs": self.failing,
            "cursor_lag_seconds": self.cursor_lag_s,
            "outbox": {"pending": self.pending, "dead": self.dead},
            "needs_review": self.needs_review,
            "quota": None
            if self.quota is None
            else {
                "used": self.quota[0],
                "limit": self.quota[1],
                "share": self.quota[0] / self.quota[1] if self.quota[1] else None,
            },
            "revocation_sla_seconds": self.sla_s,
            "oldest_unapplied_revocation_seconds": self.oldest_revocation_age_s,
            "time_to_apply": None
            if self.apply is None
            else {
                "window_seconds": APPLY_WINDOW.total_seconds(),
                "count": self.apply.count,
                "p50_seconds": self.apply.p50_s,
                "p99_seconds": self.apply.p99_s,
            },
            "breaches": self.breaches,
        }


def gather(store: Store, slas: dict[str, float], at: datetime) -> list[SystemStatus]:
    """Everything `status` reports, read from the store, for the systems in `slas`."""
    runs = store.views.latest_runs()
    backlog = store.views.backlog()
    cursors = store.views.cursors()
    review = store.views.open_for_review()
    quota = store.views.quota()
    apply = store.views.time_to_apply(at - APPLY_WINDOW)
    out = []
    for name, sla in slas.items():
        system = SystemStatus(name, sla)
        recorded = runs.get(name, {})
        for shown, kinds in SHOWN_RUNS.items():
            candidates = [recorded[kind] for kind in kinds if kind in recorded]
            system.runs[shown] = max(candidates, key=lambda r: r.finished_at, default=None)
        system.failing = {
            kind: redacted(run.error)
            for kind, run in sorted(recorded.items())
            if run.error and not run.error.startswith(INTERRUPTED)
        }
        system.cursor_lag_s = {
            object_type: max((at - watermark).total_seconds(), 0.0)
            for (owner, object_type), watermark in sorted(cursors.items())
            if owner == name
        }
        owed = backlog.get(name)
        if owed is not None:
            system.pending, system.dead = owed.pending, owed.dead
            if owed.oldest_revocation is not None:
                system.oldest_revocation_age_s = (at - owed.oldest_revocation).total_seconds()
        system.needs_review = review.get(name, 0)
        if name in quota:
            system.quota = (quota[name].used, quota[name].limit)
        system.apply = apply.get(name)
        out.append(system)
    return out


def duration(seconds: float) -> str:
    """A span the way an operator reads it: 850 ms, 42 s, 14 min, 3 h 5 min, 2 d 4 h."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def redacted(text: str) -> str:
    """A CRM's error as printed: it may name a person, so emails and secrets are hidden."""
    from consent_sync.redaction import redact_text  # not logs: no structlog to print a line

    return redact_text(text)
