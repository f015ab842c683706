"""`consent-sync status`: is anything late? One answer per system, and exit 1 when something is.

Per system: the last pull, push and sweep (from the recorded sync runs), cursor lag, outbox depth
and dead letters, open needs-review conflicts, API quota as the connector last reported it, the
oldest unapplied revocation against the system's SLA (`limits.revocation_sla_seconds`, default
15 minutes) and time-to-apply p50/p99 over the last day. A breach is a revocation older than
the SLA, a dead letter, or a kind of run whose newest run failed. The computation is
consent_sync.status, which the console's overview shares.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from consent_sync.cli.options import CONFIG_OPTION, EXIT_FAILURE, now
from consent_sync.cli.tables import iso
from consent_sync.status import SystemStatus, duration, gather, redacted

if TYPE_CHECKING:
    from consent_sync.store.views import RunSummary

__all__ = ["redacted", "render", "status"]  # `redacted`: for the other commands, as before


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
    """Each enabled system's revocation SLA in seconds, from connectors/*.yaml; when a connector
    file cannot be read for it, exits 2 listing every configuration error."""
    from consent_sync.cli.stores import invalid_config
    from consent_sync.config import ConfigError, default_config_dir, load_config, revocation_slas

    config_dir = default_config_dir(config)
    slas = revocation_slas(config_dir)
    if slas is not None:
        return slas
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
