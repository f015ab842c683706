"""`consent-sync bench`: backfill, idle and propagation figures against the sandboxes."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from consent_sync.cli._store import CONFIG_OPTION
from consent_sync.config import default_config_dir
from consent_sync_sandbox.bench import run_bench


def bench(
    contacts: int = typer.Option(20000, "--contacts", min=100, help="Contacts per CRM sandbox."),
    samples: int = typer.Option(20, "--samples", min=1, help="Propagation measurements."),
    work_dir: Path = typer.Option(Path(".bench"), "--work-dir", help="Sandbox files and store."),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON figures."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Measure backfill vs the bare clients, API calls vs the minimum, idle cost, latency."""
    say = (lambda _: None) if as_json else (lambda line: typer.echo(line, err=True))
    result = run_bench(work_dir, contacts, default_config_dir(config), say, samples)
    figures = result.as_dict()
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
        return
    typer.echo(
        f"contacts per CRM: {contacts}; backfill to convergence {figures['backfill_seconds']} s"
    )
    for name, f in figures["systems"].items():
        typer.echo(
            f"  {name}: {f['records']} records in {f['seconds']} s; bare client "
            f"{f['bare_client_seconds']} s (x{f['time_ratio']}); API calls {f['api_calls']} vs "
            f"minimum {f['minimum_calls']} (x{f['call_ratio']}); {f['writes']} writes"
        )
    idle = figures["idle_cycle"]
    typer.echo(f"  idle cycle: API calls {idle['api_calls']}, writes {idle['writes']}")
    lat = figures["propagation_seconds"]
    typer.echo(
        f"  propagation HubSpot -> Salesforce (poll): p50 {lat['p50']} s, p99 {lat['p99']} s"
    )
    typer.echo(f"  peak RSS (this process, sandboxes included): {figures['peak_rss_mib']} MiB")
