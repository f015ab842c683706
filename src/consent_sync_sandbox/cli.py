"""`consent-sync sandbox`, `demo` and `bench`: the sandbox tooling, a plugin of the product's CLI.

The product's command line imports this module by name when one of these commands is named or
listed (see consent_sync.cli.plugins) and calls `register`. The commands import the
emulators, the stage and the store inside their functions, so listing them stays cheap.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from consent_sync.cli.options import CONFIG_OPTION, fail

if TYPE_CHECKING:
    from consent_sync_sandbox.stage import Stage


def register(app: typer.Typer) -> None:
    """Add the `sandbox`, `demo` and `bench` commands to `app`."""
    app.command("sandbox")(sandbox)
    app.command("demo")(demo)
    app.command("bench")(bench)


def sandbox(
    contacts: int = typer.Option(0, "--contacts", min=0, help="Contacts seeded per emulator."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated people."),
    overlap: float = typer.Option(
        0.8, "--overlap", min=0.0, max=1.0, help="Share of people every system holds."
    ),
    salesforce_port: int = typer.Option(8701, "--salesforce-port"),
    hubspot_port: int = typer.Option(8702, "--hubspot-port"),
    mailchimp_port: int = typer.Option(8703, "--mailchimp-port"),
    dynamics_port: int = typer.Option(8704, "--dynamics-port"),
    state_dir: Path = typer.Option(
        Path(".sandbox"), "--state-dir", help="Where ca.pem and the env file are written."
    ),
) -> None:
    """Serve the emulators (Salesforce, HubSpot, Mailchimp, Dynamics 365) over HTTPS on loopback."""
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
            ports={
                "salesforce": salesforce_port,
                "hubspot": hubspot_port,
                "mailchimp": mailchimp_port,
                "dynamics": dynamics_port,
            },
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
    contacts: int = typer.Option(3000, "--contacts", min=50, help="Contacts per sandbox."),
    systems: str | None = typer.Option(
        None,
        "--systems",
        help="Comma-separated systems to play, e.g. salesforce,hubspot. Default: every system "
        "the configuration enables that has a sandbox.",
    ),
    work_dir: Path = typer.Option(
        Path(".demo"), "--work-dir", help="Where the sandbox CA, env and SQLite store go."
    ),
    serve: bool = typer.Option(
        False,
        "--serve",
        help="Afterwards keep the daemon running with its HTTP app and print the on-call "
        "console's URL and a write token, until Ctrl-C.",
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Start the systems' sandboxes, sync them, and play a revocation scenario end to end."""
    from consent_sync.cli.options import EXIT_USAGE
    from consent_sync.cli.stores import invalid_config
    from consent_sync.config import ConfigError, default_config_dir
    from consent_sync_sandbox.demo import DemoError, run_demo
    from consent_sync_sandbox.demo_people import TITLES
    from consent_sync_sandbox.stage import SystemsError, choose_systems, staged

    config_dir = default_config_dir(config)
    requested = None if systems is None else [n.strip() for n in systems.split(",") if n.strip()]
    say = typer.echo
    try:
        cast = choose_systems(config_dir, requested)
        names = ", ".join(TITLES[s] for s in cast.systems)
        say(
            f"consent-sync demo: {names}, {contacts} contacts each, "
            f"config from {config_dir.resolve()}"
        )
        reasons = {
            why: [n for n, w in cast.left_out.items() if w == why] for why in cast.left_out.values()
        }
        for why, left_out in reasons.items():
            say(f"   left out ({why}): {', '.join(left_out)}")
        with staged(work_dir, contacts, config_dir, cast.systems) as stage:
            sandboxes = ", ".join(f"{TITLES[s]} {stage.sandbox.base_url(s)}" for s in cast.systems)
            say(f"   sandboxes: {sandboxes}; store {work_dir / 'consent-sync.db'}")
            run_demo(stage, say)
            if serve:
                _serve(stage, work_dir)
    except SystemsError as exc:
        raise fail(f"--systems: {exc}", EXIT_USAGE) from None
    except ConfigError as exc:
        raise invalid_config(exc, config_dir) from None
    except DemoError as exc:
        raise fail(f"the demo scenario failed: {exc}") from None


def _serve(stage: Stage, work_dir: Path) -> None:
    """`demo --serve`: the daemon and the console stay up on the demo's store until Ctrl-C."""
    from consent_sync_sandbox.demo_daemon import serve_console

    typer.echo("")
    typer.echo("Explore from a shell with:")
    typer.echo(f"   . {stage.sandbox.env_file}")
    typer.echo(
        f"   export CONSENT_SYNC_DATABASE_URL=sqlite:///{(work_dir / 'consent-sync.db').resolve()}"
    )
    typer.echo("   consent-sync conflicts list --open; consent-sync status")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    serve_console(stage, typer.echo, stop)


def bench(
    contacts: int = typer.Option(
        100_000, "--contacts", min=100, help="Contacts per CRM sandbox (1000000: the large run)."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Small counts, SQLite only: a smoke test in under a minute."
    ),
    no_postgres: bool = typer.Option(
        False, "--no-postgres", help="Skip the PostgreSQL backfill (127.0.0.1:5432)."
    ),
    samples: int | None = typer.Option(
        None, "--samples", min=1, help="Propagation actions per path [default: 200; quick 10]."
    ),
    fault_contacts: int | None = typer.Option(
        None, "--fault-contacts", min=100, help="Contacts for the fault run [20000; quick 300]."
    ),
    poll_interval: float = typer.Option(1.0, "--poll-interval", min=0.2, help="Poll path, s."),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        exists=True,
        dir_okay=False,
        help="An earlier results file: reports the time ratio to its contact count (100k -> 1M).",
    ),
    output: Path = typer.Option(
        Path("bench-results.json"), "--output", help="Where the JSON results are written."
    ),
    work_dir: Path = typer.Option(Path(".bench"), "--work-dir", help="Sandbox files and stores."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Benchmark backfill, idle cycles, propagation, the reconcile core, faults and start-up."""
    from consent_sync.config import default_config_dir
    from consent_sync_sandbox.bench import run_bench
    from consent_sync_sandbox.bench_report import table
    from consent_sync_sandbox.bench_stage import Options

    options = Options(
        work_dir=work_dir.resolve(),
        config_dir=default_config_dir(config).resolve(),
        contacts=300 if quick else contacts,
        fault_contacts=fault_contacts or (300 if quick else 20_000),
        samples=samples or (10 if quick else 200),
        poll_interval=poll_interval,
        reconcile_observations=5_000 if quick else 100_000,
        postgres=not (quick or no_postgres),
        quick=quick,
        baseline=baseline,
    )
    started = time.monotonic()

    def say(line: str) -> None:
        typer.echo(f"[{time.monotonic() - started:5.0f} s] {line}", err=True)

    results = run_bench(options, say)
    figures = results.pop("_figures")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    typer.echo(table(figures))
    machine = results["machine"]
    typer.echo(
        f"\n{machine['cores']} cores, {machine['memory_mib']:,} MiB, Python {machine['python']}; "
        f"{results['seconds']:.0f} s in all; results in {output}"
    )
