"""`consent-sync token`: what it refuses, and what `list` shows (never a token or its hash)."""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from consent_sync.cli import app
from consent_sync.store import Store
from support.paths import REPO


def _run(url: str, *args: str) -> Result:
    env = {"CONSENT_SYNC_DATABASE_URL": url, "CONSENT_SYNC_CONFIG": str(REPO)}
    return CliRunner().invoke(app, ["token", *args], env=env)


def test_a_bad_name_or_scope_exits_2_saying_why(store: Store, migrated_db_url: str) -> None:
    """A name with spaces and an unknown scope are usage errors; nothing is created."""
    spaced = _run(migrated_db_url, "create", "--name", "prefs centre", "--scope", "read")
    assert spaced.exit_code == 2
    assert "token name 'prefs centre'" in spaced.stderr
    scoped = _run(migrated_db_url, "create", "--name", "prefs", "--scope", "root")
    assert scoped.exit_code == 2
    assert store.tokens.list() == []


def test_list_shows_names_scopes_and_revocations_only(store: Store, migrated_db_url: str) -> None:
    """`token list --json` names each token with its scope and revocation, nothing secret."""
    created = _run(migrated_db_url, "create", "--name", "support", "--scope", "read")
    assert created.exit_code == 0, created.output
    token = created.stdout.splitlines()[-1]
    assert _run(migrated_db_url, "revoke", "support").exit_code == 0
    assert _run(migrated_db_url, "create", "--name", "support", "--scope", "admin").exit_code == 0
    listed = _run(migrated_db_url, "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["scope"], r["revoked_at"] is None) for r in rows] == [
        ("support", "read", False),
        ("support", "admin", True),
    ]
    assert token not in listed.stdout and "hash" not in listed.stdout


def test_revoking_an_unknown_token_exits_1(store: Store, migrated_db_url: str) -> None:
    """`token revoke` of a name with no live token fails and says so."""
    result = _run(migrated_db_url, "revoke", "nobody")
    assert result.exit_code == 1
    assert "no live token named 'nobody'" in result.stderr
