"""The `consent-sync` command line: thin commands that parse, call the core and store, print.

Starting it loads typer and the pure domain only: each command imports the store, the
configuration, the connectors and the daemon inside its function, and `sandbox`, `demo` and
`bench` come from a plugin imported when one of them is named (tests/cli/test_startup.py).
"""

from __future__ import annotations

import sys

import typer

from consent_sync.cli.conflicts import conflicts
from consent_sync.cli.consent import consent
from consent_sync.cli.db import db
from consent_sync.cli.ledger import ledger
from consent_sync.cli.outbox import outbox
from consent_sync.cli.plugins import WithSandboxPlugin
from consent_sync.cli.run import run
from consent_sync.cli.status import status
from consent_sync.cli.subject import subject
from consent_sync.cli.sync import sync
from consent_sync.cli.token import token
from consent_sync.cli.validate import validate

app = typer.Typer(
    name="consent-sync",
    help="Keep consent and opt-out state consistent across CRMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # `sandbox`, `demo`, `bench`: a plugin, imported by name when named (see plugins.py).
    cls=WithSandboxPlugin,
)
app.command()(validate)
app.command("sync")(sync)
app.command("run")(run)
app.command("status")(status)
app.add_typer(db, name="db")
app.add_typer(consent, name="consent")
app.add_typer(subject, name="subject")
app.add_typer(conflicts, name="conflicts")
app.add_typer(ledger, name="ledger")
app.add_typer(token, name="token")
app.add_typer(outbox, name="outbox")


#: Commands that only read and print: they set logging up when something first logs
#: (deferred_logging.py), not before, to start within 0.5 s (docs/performance.md).
READ_COMMANDS = frozenset({"ledger", "status", "subject"})


@app.callback()
def root(
    ctx: typer.Context,
    log_level: str = typer.Option(
        "WARNING", "--log-level", envvar="CONSENT_SYNC_LOG_LEVEL", help="DEBUG, INFO, WARNING..."
    ),
) -> None:
    """Keep consent and opt-out state consistent across CRMs."""
    if "--help" in sys.argv[1:]:
        # A usage text logs nothing; configuring logging (structlog and rich) would be a third
        # of `subject show --help`'s start-up (tests/cli/test_startup.py).
        return
    if ctx.invoked_subcommand in READ_COMMANDS:
        from consent_sync.cli.deferred_logging import defer

        ctx.call_on_close(defer(log_level))
        return
    from consent_sync.logs import configure as configure_logging

    configure_logging(log_level)


def main() -> None:
    """Entry point of the `consent-sync` console script."""
    app()


__all__ = ["app", "main"]
