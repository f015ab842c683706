"""`consent-sync db reclassify` and the hint `db upgrade` gives, through the real CLI app.

The store is built the way the previous version did: an unticked Salesforce HasOptedOutOfEmail
box ingested as `granted` and that grant pushed to HubSpot as an opt-in, next to a genuine
HubSpot subscription with a legal basis.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner, Result

from consent_sync.cli import app
from consent_sync.config import load_config
from consent_sync.domain.identity import MatchKeys
from consent_sync.domain.model import Evidence, LinkKey, Observation, Status, TimeKind
from consent_sync.store import Store
from consent_sync.store.tables import LedgerRow, OutboxRow
from support.paths import REPO

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
APPLIED = T0 + timedelta(minutes=3)  # when ada's fabricated opt-in reached HubSpot
ADA_SF = LinkKey("salesforce", "Contact", "003A")
ADA_HS = LinkKey("hubspot", "contacts", "501")
BOB_SF = LinkKey("salesforce", "Lead", "00QB")
BOB_HS = LinkKey("hubspot", "contacts", "502")
DEE_HS = LinkKey("hubspot", "contacts", "504")
EMAILS = {
    ADA_SF: "ada@example.com",
    ADA_HS: "ada@example.com",
    BOB_SF: "bob@example.com",
    BOB_HS: "bob@example.com",
    DEE_HS: "dee@example.com",
}
SUMMARY = "reclassified 3 grant(s) of 2 subject(s); 1 opt-in(s) had been pushed: hubspot 1"
HINT = "3 grant(s) read from opt-out boxes by an earlier version: run consent-sync db reclassify"


class Invoke(Protocol):
    def __call__(self, *args: str, config: Path = REPO) -> Result: ...


def read(
    link: LinkKey, purpose: str, status: Status, field: str, legal_basis: str | None = None
) -> Observation:
    """What the previous version made of `link`'s `field`, with the field in its evidence."""
    proof = Evidence(
        source=link.system,
        source_record=str(link),
        legal_basis=legal_basis,
        captured_at=T0,
        extra={"field": field},
    )
    return Observation(link.system, link, purpose, status, T0, TimeKind.FIELD, proof)


def build_old_store(store: Store) -> None:
    """Ada: two unticked boxes read as grants, one pushed to HubSpot; bob: one, still queued;
    dee: a genuine HubSpot subscription with a legal basis."""
    config = load_config(REPO, resolve_env=False)
    observations = [
        read(ADA_SF, "email_marketing", Status.GRANTED, "HasOptedOutOfEmail"),
        read(ADA_SF, "phone_calls", Status.GRANTED, "DoNotCall"),
        read(ADA_HS, "email_marketing", Status.UNKNOWN, "marketing_email"),
        read(BOB_SF, "email_marketing", Status.GRANTED, "HasOptedOutOfEmail"),
        read(BOB_HS, "email_marketing", Status.UNKNOWN, "marketing_email"),
        read(DEE_HS, "email_marketing", Status.GRANTED, "marketing_email", legal_basis="consent"),
    ]
    keys = {o.link: MatchKeys(email=EMAILS[o.link]) for o in observations if o.link}
    store.decisions.ingest(observations, keys, config.purposes, T0 + timedelta(minutes=1))
    (ada,) = (
        i for i in store.outbox.due("hubspot", 10, T0 + timedelta(minutes=2)) if i.link == ADA_HS
    )
    store.outbox.mark_written(ada, APPLIED)


def _counts(store: Store) -> tuple[int, int]:
    """(ledger rows, pending granted outbox rows)."""
    with Session(store.engine) as session:
        ledger = session.exec(select(func.count()).select_from(LedgerRow)).one()
        pending = session.exec(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.state == "pending", OutboxRow.status == "granted")
        ).one()
    return ledger, pending


def _status(store: Store, email: str, purpose: str) -> str:
    (state,) = (s for s in store.views.subject(email).states if s.purpose == purpose)
    return state.status


def _seq(store: Store, email: str, purpose: str) -> int | None:
    (state,) = (s for s in store.views.subject(email).states if s.purpose == purpose)
    return state.ledger_seq


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def run(store: Store, migrated_db_url: str) -> Invoke:
    """`consent-sync ARGS` against the old-style store, with the repository's configuration."""
    build_old_store(store)
    runner = CliRunner()

    def invoke(*args: str, config: Path = REPO) -> Result:
        env = {"CONSENT_SYNC_DATABASE_URL": migrated_db_url, "CONSENT_SYNC_CONFIG": str(config)}
        return runner.invoke(app, list(args), env=env)

    return invoke


def test_reclassify_turns_box_grants_into_not_opted_out(run: Invoke, store: Store) -> None:
    """Fabricated grants become not_opted_out, the genuine one stays, the ledger verifies."""
    ledger_before, pending_before = _counts(store)
    assert pending_before == 1  # bob's opt-in, still waiting for HubSpot
    out = _ok(run("db", "reclassify"))
    assert out.splitlines()[-1] == SUMMARY
    assert _status(store, "ada@example.com", "email_marketing") == "not_opted_out"
    assert _status(store, "ada@example.com", "phone_calls") == "not_opted_out"
    assert _status(store, "bob@example.com", "email_marketing") == "not_opted_out"
    assert _status(store, "dee@example.com", "email_marketing") == "granted"
    assert _counts(store) == (ledger_before + 3, 0)
    assert "ledger OK" in _ok(run("ledger", "verify"))


def test_reclassify_lists_the_pushed_opt_in_without_emails(run: Invoke, store: Store) -> None:
    """The table names the HubSpot record the opt-in went to, and no email address."""
    seq = _seq(store, "ada@example.com", "email_marketing")
    out = _ok(run("db", "reclassify"))
    assert out.splitlines()[:3] == [
        "opt-ins pushed from reclassified grants (undo them in each CRM):",
        "  system   object    record id  purpose          applied at                 ledger seq",
        f"  hubspot  contacts  501        email_marketing  {APPLIED.isoformat()}  {seq}",
    ]
    assert "@" not in out


def test_reclassify_json_lines(run: Invoke, store: Store) -> None:
    """--json prints one JSON object per pushed opt-in (subject id, no email) and the summary
    on stderr."""
    subject_id = str(store.views.subject("ada@example.com").subject.id)
    seq = _seq(store, "ada@example.com", "email_marketing")
    result = run("db", "reclassify", "--json")
    (line,) = _ok(result).splitlines()
    assert json.loads(line) == {
        "system": "hubspot",
        "object": "contacts",
        "record_id": "501",
        "purpose": "email_marketing",
        "applied_at": APPLIED.isoformat(),
        "ledger_seq": seq,
        "subject": subject_id,
    }
    assert result.stderr.strip() == SUMMARY
    assert "@" not in result.stdout + result.stderr


def test_a_second_reclassify_changes_nothing(run: Invoke, store: Store) -> None:
    """Run twice: the second run finds nothing and writes nothing."""
    _ok(run("db", "reclassify"))
    counts = _counts(store)
    out = _ok(run("db", "reclassify"))
    assert out.strip() == "reclassified 0 grant(s) of 0 subject(s); 0 opt-in(s) had been pushed"
    assert _counts(store) == counts


def test_dry_run_reports_and_changes_nothing(run: Invoke, store: Store) -> None:
    """--dry-run reports what it would do and leaves the store as it was."""
    counts = _counts(store)
    out = _ok(run("db", "reclassify", "--dry-run"))
    assert out.splitlines()[-1] == f"dry run, nothing changed: {SUMMARY}"
    assert "501" in out
    assert _counts(store) == counts
    assert _status(store, "ada@example.com", "email_marketing") == "granted"
    assert _ok(run("db", "reclassify")).splitlines()[-1] == SUMMARY


def test_db_upgrade_hints_at_reclassify(run: Invoke) -> None:
    """`db upgrade` counts the grants read from opt-out boxes and points at `db reclassify`."""
    assert HINT in _ok(run("db", "upgrade"))
    _ok(run("db", "reclassify"))
    assert "reclassify" not in _ok(run("db", "upgrade"))


def test_db_upgrade_without_a_configuration_gives_no_hint(run: Invoke, tmp_path: Path) -> None:
    """Without a loadable configuration `db upgrade` still succeeds, without a hint."""
    out = _ok(run("db", "upgrade", config=tmp_path))
    assert "already at" in out
    assert "reclassify" not in out


def test_reclassify_refuses_an_invalid_configuration(run: Invoke, tmp_path: Path) -> None:
    """A configuration that does not load is a usage error (exit 2) and nothing changes."""
    result = run("db", "reclassify", config=tmp_path)
    assert result.exit_code == 2
    assert f"invalid configuration in {tmp_path}" in result.stderr


def test_reclassify_refuses_a_database_without_schema(tmp_path: Path) -> None:
    """On a database without the schema it exits 2 and says to run `db upgrade`."""
    env = {
        "CONSENT_SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "CONSENT_SYNC_CONFIG": str(REPO),
    }
    result = CliRunner().invoke(app, ["db", "reclassify"], env=env)
    assert result.exit_code == 2
    assert "consent-sync db upgrade" in result.stderr


def test_help_says_no_personal_data_is_printed() -> None:
    """The help says the listing carries record and subject ids only, never emails."""
    result = CliRunner().invoke(app, ["db", "reclassify", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "never email addresses" in " ".join(result.stdout.split())
