"""`consent-sync demo`: the main job on the embedded defaults, narrated on the console."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from consent_sync.cli._store import CONFIG_OPTION, fail, invalid_config
from consent_sync.cli.subject import render
from consent_sync.config import ConfigError, default_config_dir
from consent_sync_sandbox.demo import DemoError, run_demo, staged


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
            view = stage.store.subject(result.person)
            for line in render(view, stage.config.purposes).splitlines():
                say(f"   {line}")
            verified = stage.store.verify_ledger()
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
