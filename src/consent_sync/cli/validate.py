"""`consent-sync validate`: check the configuration directory offline, every error at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from consent_sync.cli.options import CONFIG_ENV

if TYPE_CHECKING:
    from consent_sync.config import ConfigIssue, DeploymentConfig

#: Exit code for a usage or configuration error (docs/design.md, "Processes").
EXIT_CONFIG = 2


def validate(
    config: Path | None = typer.Option(
        None,
        "--config",
        envvar=CONFIG_ENV,
        help="Configuration directory (connectors/, mappings/). Default: the current directory.",
    ),
    live: bool = typer.Option(
        False,
        "--live",
        help="Also check every mapped field against each CRM (exists, writable, options).",
    ),
) -> None:
    """Check connectors/ and mappings/; print every error as file:line: message (exit 2)."""
    from consent_sync.config import ConfigError, default_config_dir, load_config

    config_dir = default_config_dir(config)
    try:
        loaded = load_config(config_dir, resolve_env=live)
    except ConfigError as exc:
        _print_warnings(exc.warnings)
        _fail(exc.errors, config_dir)
    _print_warnings(loaded.warnings)
    if live:
        _check_live(loaded)
    typer.echo(summary(loaded))


def _fail(errors: list[ConfigIssue], config_dir: Path) -> NoReturn:
    for issue in errors:
        typer.echo(str(issue), err=True)
    count = len(errors)
    typer.echo(f"{count} error{'s' if count != 1 else ''} in {config_dir}", err=True)
    raise typer.Exit(EXIT_CONFIG)


def _check_live(loaded: DeploymentConfig) -> None:
    """Describe each enabled system's objects and compare them with the mappings."""
    from consent_sync.config.live_check import live_issues
    from consent_sync.connectors.factory import build_connector

    connectors = {
        name: build_connector(connector, loaded.mappings[name])
        for name, connector in loaded.connectors.items()
        if connector.enabled and name in loaded.mappings
    }
    try:
        issues = live_issues(loaded, connectors)
    finally:
        for connector in connectors.values():
            connector.close()
    if issues:
        _fail(issues, loaded.config_dir)
    typer.echo(f"live check OK: {', '.join(sorted(connectors))}")


def summary(config: DeploymentConfig) -> str:
    """A few lines saying what the configuration connects and maps."""
    systems = ", ".join(
        f"{name} ({connector.type}{'' if connector.enabled else ', disabled'})"
        for name, connector in sorted(config.connectors.items())
    )
    objects = sum(len(mapping.objects) for mapping in config.mappings.values())
    return "\n".join(
        (
            f"configuration OK: {config.config_dir}",
            f"  purposes: {len(config.purposes)} ({', '.join(config.purposes)})",
            f"  systems: {len(config.connectors)} ({systems})",
            f"  mapped fields: {config.mapped_field_count} on {objects} objects",
        )
    )


def _print_warnings(warnings: list[ConfigIssue] | tuple[ConfigIssue, ...]) -> None:
    from consent_sync.config import ConfigIssue

    for issue in warnings:
        typer.echo(str(ConfigIssue(issue.path, issue.line, f"warning: {issue.message}")), err=True)
