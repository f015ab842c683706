"""`consent-sync sandbox`: serve local CRM emulators until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer


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
    # Imported here: the web stack is only needed by this command.
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
