"""The `consent-sync` command line: thin commands that parse, call the core and store, print."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="consent-sync",
    help="Keep consent and opt-out state consistent across CRMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Entry point of the `consent-sync` console script."""
    app()
