"""`consent-sync validate`: check the configuration directory offline, every error at once."""

from __future__ import annotations

from pathlib import Path

import typer

from consent_sync.config import (
    CONFIG_ENV,
    ConfigError,
    ConfigIssue,
    DeploymentConfig,
    default_config_dir,
    load_config,
)

#: Exit code for a usage or configuration error (DESIGN.md §9).
EXIT_CONFIG = 2


def validate(
    config: Path | None = typer.Option(
        None,
        "--config",
        envvar=CONFIG_ENV,
        help="Configuration directory (connectors/, mappings/). Default: the current directory.",
    ),
) -> None:
    """Check connectors/ and mappings/ offline; print every error as file:line: message."""
    config_dir = default_config_dir(config)
    try:
        loaded = load_config(config_dir, resolve_env=False)
    except ConfigError as exc:
        _print_warnings(exc.warnings)
        for issue in exc.errors:
            typer.echo(str(issue), err=True)
        count = len(exc.errors)
        typer.echo(f"{count} error{'s' if count != 1 else ''} in {config_dir}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    _print_warnings(loaded.warnings)
    typer.echo(summary(loaded))


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
    for issue in warnings:
        typer.echo(str(ConfigIssue(issue.path, issue.line, f"warning: {issue.message}")), err=True)
