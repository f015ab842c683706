"""The `consent-sync` command line: thin commands that parse, call the core and store, print."""

from __future__ import annotations

import typer

from consent_sync.cli.sandbox import sandbox
from consent_sync.cli.validate import validate

app = typer.Typer(
    name="consent-sync",
    help="Keep consent and opt-out state consistent across CRMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(validate)
app.command("sandbox")(sandbox)


@app.callback()
def root() -> None:
    """Keep consent and opt-out state consistent across CRMs."""
    # A callback keeps typer in sub-command mode whatever the number of commands.


def main() -> None:
    """Entry point of the `consent-sync` console script."""
    app()
