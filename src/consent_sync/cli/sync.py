"""`consent-sync sync`: one pull → reconcile → push cycle for the configured systems, now."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from consent_sync.cli.options import CONFIG_OPTION, EXIT_USAGE, fail

if TYPE_CHECKING:
    from consent_sync.config import DeploymentConfig
    from consent_sync.connectors.protocol import Connector
    from consent_sync.sync.engine import Progress
    from consent_sync.sync.report import CycleReport


def load_deployment(config: Path | None) -> DeploymentConfig:
    """The whole configuration with secrets resolved; exits 2 listing every error."""
    from consent_sync.cli.stores import invalid_config
    from consent_sync.config import ConfigError, default_config_dir, load_config

    config_dir = default_config_dir(config)
    try:
        return load_config(config_dir)
    except ConfigError as exc:
        raise invalid_config(exc, config_dir) from None


def sync(
    system: list[str] = typer.Option(
        [], "--system", "-s", help="Only this system (repeatable). Default: every enabled one."
    ),
    full: bool = typer.Option(False, "--full", help="Read every record, ignoring cursors."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would change; write nothing anywhere."
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Run one sync cycle now and print what it did."""
    from consent_sync.cli.stores import opened_store
    from consent_sync.connectors.factory import build_connector
    from consent_sync.connectors.protocol import ConnectorError
    from consent_sync.redaction import redact_text
    from consent_sync.sync.engine import SyncEngine

    deployment = load_deployment(config)
    enabled = [name for name, c in deployment.connectors.items() if c.enabled]
    unknown = sorted(set(system) - set(deployment.connectors))
    if unknown:
        raise fail(
            f"unknown system(s): {', '.join(unknown)}; known: {', '.join(enabled)}", EXIT_USAGE
        )
    names = system or enabled
    connectors: dict[str, Connector] = {
        name: build_connector(deployment.connectors[name], deployment.mappings[name])
        for name in names
        if name in deployment.mappings
    }
    failed: set[str] = set()
    reports: dict[str, CycleReport] = {}
    with opened_store(dry_run=dry_run) as store:
        engine = SyncEngine(store, deployment, connectors, progress=_progress())
        # Every system is read and decided first, then every outbox is drained: one sync
        # leaves all of them holding the canonical values, whatever order they are listed in.
        for phase in ("pull", "push"):
            for name in connectors:
                if name in failed:
                    continue
                pulling = phase == "pull"
                try:
                    report = engine.cycle(name, full=full, pull=pulling, push=not pulling)
                except ConnectorError as exc:
                    # A CRM's error may quote the record it refused, email included.
                    typer.echo(f"{name}: failed: {redact_text(str(exc))}", err=True)
                    failed.add(name)
                    continue
                reports[name] = report if pulling else reports[name].merged(report)
        for report in reports.values():
            _print(report, dry_run=dry_run)
    for connector in connectors.values():
        connector.close()
    if failed:
        raise typer.Exit(1)


def _progress() -> Progress | None:
    if not sys.stderr.isatty():
        return None

    def show(label: str, count: int) -> None:
        sys.stderr.write(f"\r{label}: {count} records read")
        sys.stderr.flush()

    return show


def _print(report: CycleReport, *, dry_run: bool) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    prefix = "[dry run] " if dry_run else ""
    conflicts = ", ".join(f"{k} {v}" for k, v in sorted(report.conflicts.items())) or "none"
    typer.echo(
        f"{prefix}{report.system}: {report.records_read} records read, "
        f"{report.decisions} decisions, {report.queued} writes queued, "
        f"{report.writes_ok} written, {report.writes_retry} to retry, "
        f"{report.writes_dead} dead-lettered, {report.unmatched} unmatched, "
        f"{report.unreadable} unreadable, "
        f"{report.links_ended} links ended; conflicts: {conflicts}; "
        f"{report.api_calls} API calls in {report.duration_s:.1f} s"
    )
