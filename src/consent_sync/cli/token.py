"""`consent-sync token`: bearer tokens for /api/v1 (and, when required, /metrics).

A token is printed once, alone on the last line of `token create`; the store keeps only its
hash, so a lost token is revoked and replaced, never recovered.
"""

from __future__ import annotations

import json
from enum import StrEnum

import typer

from consent_sync.cli.options import EXIT_USAGE, fail, now
from consent_sync.cli.tables import iso, table

token = typer.Typer(help="API tokens for /api/v1.", no_args_is_help=True)


class ScopeChoice(StrEnum):
    """`consent_sync.store.tokens.Scope`, spelled again so start-up need not load the store."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@token.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Who uses it, e.g. preference-centre."),
    scope: ScopeChoice = typer.Option(
        ..., "--scope", help="read: look; write: also record and resolve; admin: also retry."
    ),
) -> None:
    """Create a token and print it once, alone on the last line; only its hash is kept."""
    from consent_sync.cli.stores import opened_store
    from consent_sync.store.tokens import Scope, TokenExistsError, TokenNameError

    with opened_store() as store:
        try:
            secret = store.tokens.create(name, Scope(scope.value), now())
        except (TokenNameError, TokenExistsError) as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    typer.echo(f"token {name!r} (scope {scope.value}) created; it is shown this once:")
    typer.echo(secret)


@token.command("list")
def list_tokens(
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Every token by name: scope, when created, when revoked (never the token)."""
    from consent_sync.cli.stores import opened_store

    with opened_store() as store:
        tokens = store.tokens.list()
    if as_json:
        for info in tokens:
            data = {
                "name": info.name,
                "scope": info.scope.value,
                "created_at": iso(info.created_at),
                "revoked_at": iso(info.revoked_at),
            }
            typer.echo(json.dumps(data))
        return
    lines = table(
        ("name", "scope", "created at", "revoked at"),
        [
            (info.name, info.scope.value, iso(info.created_at) or "-", iso(info.revoked_at) or "-")
            for info in tokens
        ],
    )
    typer.echo("\n".join(line.removeprefix("  ") for line in lines))


@token.command("revoke")
def revoke(name: str = typer.Argument(..., help="The token's name.")) -> None:
    """Revoke a token at once: requests with it get 401 from then on."""
    from consent_sync.cli.stores import opened_store
    from consent_sync.store.tokens import TokenNotFoundError

    with opened_store() as store:
        try:
            store.tokens.revoke(name, now())
        except TokenNotFoundError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"token {name!r} revoked")
