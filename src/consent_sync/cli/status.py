"""`consent-sync status`: is anything late? One answer per system, and exit 1 when something is.

Per system: the last pull, push and sweep (from the recorded sync runs), cursor lag, outbox depth
and dead letters, open needs-review conflicts, API quota as the connector last reported it, the
oldest unapplied revocation against the system's SLA (`limits.revocation_sla_seconds`, default
15 minutes) and time-to-apply p50/p99 over the last day. A breach is a revocation older than
the SLA, a dead letter, or a kind of run whose newest run failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from consent_sync.cli.options import CONFIG_OPTION, EXIT_FAILURE, now
from consent_sync.cli.tables import iso

if TYPE_CHECKING:
    from consent_sync.store import Store
    from consent_sync.store.views import ApplyTimes, RunSummary

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


def status(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Per system: runs, lag, outbox, conflicts, quota, revocations against the SLA.

    Exits 1 when a revocation is older than its SLA, a write is dead-lettered or the newest run
    of a kind failed; 0 otherwise.
    """
    from consent_sync.cli.stores import opened_store

    slas = _revocation_slas(config)
    checked_at = now()
    with opened_store() as store:
        systems = gather(store, slas, checked_at)
    breaches = [reason for system in systems for reason in system.breaches]
    if as_json:
        data = {
            "checked_at": iso(checked_at),
            "ok": not breaches,
            "breaches": breaches,
            "systems": {system.name: system.as_data() for system in systems},
        }
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for system in systems:
            typer.echo("\n".join(render(system, checked_at)))
        typer.echo("breaches:" if breaches else "ok: nothing is late")
        for reason in breaches:
            typer.echo(f"  {reason}")
    if breaches:
        raise typer.Exit(EXIT_FAILURE)


def _revocation_slas(config: Path | None) -> dict[str, float]:
    """Each enabled system's revocation SLA in seconds; exits 2 listing every config error."""
    from consent_sync.cli.stores import invalid_config
    from consent_sync.config import ConfigError, default_config_dir, load_config

    config_dir = default_config_dir(config)
    try:
        # Offline: status needs no secret, so an unset credential variable is no reason to fail.
        deployment = load_config(config_dir, resolve_env=False)
    except ConfigError as exc:
        raise invalid_config(exc, config_dir) from None
    return {
        name: connector.limits.revocation_sla_seconds
        for name, connector in deployment.connectors.items()
        if connector.enabled
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


def render(system: SystemStatus, at: datetime) -> list[str]:
    """The plain-text block of one system."""
    lines = [system.name]
    for kind, run in system.runs.items():
        lines.append(f"  last {kind:<7} {_run(run, at)}")
    lag = ", ".join(f"{obj} {duration(s)}" for obj, s in system.cursor_lag_s.items())
    lines.append(f"  cursor lag   {lag or 'no cursor yet'}")
    lines.append(f"  outbox       {system.pending} pending, {system.dead} dead letter(s)")
    lines.append(f"  needs review {system.needs_review} open conflict(s)")
    if system.quota is None:
        lines.append("  API quota    unknown (not reported by the system yet)")
    else:
        used, limit = system.quota
        share = f" ({100 * used / limit:.1f} %)" if limit else ""
        lines.append(f"  API quota    {used} of {limit} used{share}")
    age = system.oldest_revocation_age_s
    sla = duration(system.sla_s)
    if age is None:
        lines.append(f"  revocations  none unapplied (SLA {sla})")
    else:
        verdict = "BREACH" if age > system.sla_s else "within SLA"
        lines.append(f"  revocations  oldest unapplied for {duration(age)}: {verdict} (SLA {sla})")
    times = system.apply
    if times is None or times.count == 0:
        lines.append("  time to apply (last day): no revocation applied")
    else:
        lines.append(
            f"  time to apply (last day): {times.count} revocation(s), "
            f"p50 {duration(times.p50_s or 0)}, p99 {duration(times.p99_s or 0)}"
        )
    return lines


def _run(run: RunSummary | None, at: datetime) -> str:
    if run is None:
        return "never"
    ago = duration((at - run.finished_at).total_seconds())
    when = run.finished_at.strftime("%Y-%m-%d %H:%M:%SZ")
    if run.error is None:
        return f"{when} ok ({ago} ago)"
    since_ok = (
        f"; last ok {duration((at - run.last_ok_at).total_seconds())} ago"
        if run.last_ok_at
        else "; never ok"
    )
    return f"{when} FAILED ({ago} ago{since_ok}): {redacted(run.error)}"


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
    from consent_sync.logs import redact_text

    return redact_text(text)
