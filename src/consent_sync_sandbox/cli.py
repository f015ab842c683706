"""`consent-sync sandbox`, `demo` and `bench`: the sandbox tooling, a plugin of the product's CLI.

The product's command line imports this module by name when one of these commands is named or
listed (see consent_sync.cli.plugins) and calls `register`. The commands import the
emulators, the stage and the store inside their functions, so listing them stays cheap.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from consent_sync.cli.options import CONFIG_OPTION, fail
from consent_sync.cli.subject import render


def register(app: typer.Typer) -> None:
    """Add the `sandbox`, `demo` and `bench` commands to `app`."""
    app.command("sandbox")(sandbox)
    app.command("demo")(demo)
    app.command("bench")(bench)


def sandbox(
    contacts: int = typer.Option(0, "--contacts", min=0, help="Contacts seeded per emulator."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated people."),
    overlap: float = typer.Option(
        0.8, "--overlap", min=0.0, max=1.0, help="Share of people held by both CRMs."
    ),
    salesforce_port: int = typer.Option(8701, "--salesforce-port"),
    hubspot_port: int = typer.Option(8702, "--hubspot-port"),
    state_dir: Path = typer.Option(
        Path(".sandbox"), "--state-dir", help="Where ca.pem and the env file are written."
    ),
) -> None:
    """Serve the Salesforce and HubSpot emulators over HTTPS on loopback."""
    from consent_sync_sandbox.runner import SandboxError, start_sandbox

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    typer.echo(f"seeding {contacts} contacts per emulator ...")
    try:
        running = start_sandbox(
            state_dir,
            contacts=contacts,
            seed=seed,
            overlap=overlap,
            ports={"salesforce": salesforce_port, "hubspot": hubspot_port},
        )
    except SandboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        for name, emulator in running.emulators.items():
            typer.echo(f"{name:<11} {running.base_url(name)}  ({emulator.describe})")
            typer.echo(f"{'':<11} control: {running.base_url(name)}/_sandbox/")
        typer.echo(f"CA file     {running.tls.ca_pem}")
        typer.echo(f"credentials {running.env_file}  (source it: . {running.env_file})")
        typer.echo("serving; Ctrl-C or SIGTERM stops")
        while not stop.wait(0.5):
            pass
    finally:
        running.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    typer.echo("sandbox stopped")


def demo(
    contacts: int = typer.Option(3000, "--contacts", min=10, help="Contacts per CRM sandbox."),
    work_dir: Path = typer.Option(
        Path(".demo"), "--work-dir", help="Where the sandbox CA, env and SQLite store go."
    ),
    serve: bool = typer.Option(
        False, "--serve", help="Keep the sandboxes and store up afterwards, until Ctrl-C."
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Start both CRM sandboxes, sync them, and play a revocation scenario end to end."""
    from consent_sync.cli.stores import invalid_config
    from consent_sync.config import ConfigError, default_config_dir
    from consent_sync_sandbox.demo import DemoError, run_demo
    from consent_sync_sandbox.stage import staged

    config_dir = default_config_dir(config)
    say = typer.echo
    say(f"consent-sync demo: {contacts} contacts per CRM, config from {config_dir.resolve()}")
    try:
        with staged(work_dir, contacts, config_dir) as stage:
            say(
                f"   sandboxes: Salesforce {stage.sandbox.base_url('salesforce')}, "
                f"HubSpot {stage.sandbox.base_url('hubspot')}; store {work_dir / 'consent-sync.db'}"
            )
            result = run_demo(stage, say)
            say(f"4. consent-sync subject show {result.person}")
            view = stage.store.views.subject(result.person)
            for line in render(view, stage.config.purposes).splitlines():
                say(f"   {line}")
            verified = stage.store.views.verify_ledger()
            say("")
            say("Summary")
            records = sum(t.get("records_read", 0) for t in result.backfill.values())
            decisions = sum(t.get("decisions", 0) for t in result.backfill.values())
            say(f"   backfill: {records} records, {decisions} decisions")
            say(f"   revocation HubSpot -> Salesforce: {result.propagation_s:.2f} s (poll path)")
            say(
                "   opt-out unticked in Salesforce (not a grant): blocked "
                f"(conflict #{result.conflict_id}), "
                f"denial pushed back: {'yes' if result.pushed_back else 'NO'}"
            )
            say(f"   ledger: {'verified' if verified.ok else 'BROKEN'} ({verified})")
            if serve:
                _serve(stage.sandbox.env_file, work_dir)
    except ConfigError as exc:
        raise invalid_config(exc, config_dir) from None
    except DemoError as exc:
        raise fail(f"the demo scenario failed: {exc}") from None


def _serve(env_file: Path, work_dir: Path) -> None:
    typer.echo("")
    typer.echo("Serving until Ctrl-C. Explore with:")
    typer.echo(f"   . {env_file}")
    typer.echo(
        f"   export CONSENT_SYNC_DATABASE_URL=sqlite:///{(work_dir / 'consent-sync.db').resolve()}"
    )
    typer.echo("   consent-sync conflicts list --open; consent-sync sync")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def bench(
    contacts: int = typer.Option(20000, "--contacts", min=100, help="Contacts per CRM sandbox."),
    samples: int = typer.Option(20, "--samples", min=1, help="Propagation measurements."),
    work_dir: Path = typer.Option(Path(".bench"), "--work-dir", help="Sandbox files and store."),
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON figures."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Measure backfill vs the bare clients, API calls vs the minimum, idle cost, latency."""
    from consent_sync.config import default_config_dir
    from consent_sync_sandbox.bench import run_bench

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
