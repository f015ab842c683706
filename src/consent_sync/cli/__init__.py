"""The `consent-sync` command line: thin commands that parse, call the core and store, print."""

from __future__ import annotations

import typer

from consent_sync.cli.conflicts import conflicts
from consent_sync.cli.consent import consent
from consent_sync.cli.db import db
from consent_sync.cli.ledger import ledger
from consent_sync.cli.sandbox import sandbox
from consent_sync.cli.subject import subject
from consent_sync.cli.sync import sync
from consent_sync.cli.validate import validate

app = typer.Typer(
    name="consent-sync",
    help="Keep consent and opt-out state consistent across CRMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(validate)
app.command("sandbox")(sandbox)
app.command("sync")(sync)
app.add_typer(db, name="db")
app.add_typer(consent, name="consent")
app.add_typer(subject, name="subject")
app.add_typer(conflicts, name="conflicts")
app.add_typer(ledger, name="ledger")


@app.callback()
def root() -> None:
    """Keep consent and opt-out state consistent across CRMs."""
    # A callback keeps typer in sub-command mode whatever the number of commands.


def main() -> None:
    """Entry point of the `consent-sync` console script."""
    app()
