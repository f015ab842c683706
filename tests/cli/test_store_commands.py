"""The store's commands end to end through the real CLI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from consent_sync.cli import app
from consent_sync.domain.model import Status
from consent_sync.store import Store
from support.paths import REPO
from support.store_builders import EMAIL, HS, SF, ingest, seen


class Invoke(Protocol):
    def __call__(self, *args: str) -> Result: ...


def _invoker(url: str) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        env = {"CONSENT_SYNC_DATABASE_URL": url, "CONSENT_SYNC_CONFIG": str(REPO)}
        return runner.invoke(app, list(args), env=env)

    return invoke


@pytest.fixture
def bare(db_url: str) -> Invoke:
    """`consent-sync ARGS` against an empty database and the repository's configuration."""
    return _invoker(db_url)


@pytest.fixture
def run(store: Store, migrated_db_url: str) -> Invoke:
    """`consent-sync ARGS` against a migrated database (the `store` fixture's)."""
    return _invoker(migrated_db_url)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _blocked_grant(store: Store) -> int:
    """A grant older than the denial: one open grant_blocked conflict; returns its id."""
    ingest(store, [seen(SF, Status.DENIED, 10), seen(HS, Status.DENIED, 10)], 11)
    ingest(store, [seen(HS, Status.GRANTED, 5)], 12)
    (conflict,) = store.views.conflicts(open_only=True)
    assert conflict.id is not None
    return conflict.id


@pytest.mark.parametrize(
    "args",
    [
        ("ledger", "verify"),
        ("ledger", "export"),
        ("subject", "show", EMAIL),
        ("conflicts", "list"),
        ("conflicts", "show", "1"),
        ("consent", "record", EMAIL, "email_marketing", "denied", "--source", "alice"),
    ],
)
def test_commands_refuse_a_database_without_schema(bare: Invoke, args: tuple[str, ...]) -> None:
    """A store command exits 2 on a missing schema and says to run `consent-sync db upgrade`."""
    result = bare(*args)
    assert result.exit_code == 2
    assert "consent-sync db upgrade" in result.stderr


def test_db_upgrade_then_current(bare: Invoke) -> None:
    """`db upgrade` creates the schema once; `db current` exits 1 before and 0 after."""
    from consent_sync.store.schema import head_revision

    head = head_revision()
    assert bare("db", "current").exit_code == 1
    assert f"upgraded from nothing to {head}" in _ok(bare("db", "upgrade"))
    assert f"already at {head}" in _ok(bare("db", "upgrade"))
    assert f"{head} (newest)" in _ok(bare("db", "current"))


def test_consent_record_ledgers_a_manual_decision_with_evidence(run: Invoke, store: Store) -> None:
    """`consent record` writes a `manual:<source>` decision with the given evidence."""
    out = _ok(
        run(
            "consent", "record", " Ada@Example.com", "email_marketing", "denied",
            "--source", "alice", "--evidence", "legal_basis=consent",
            "--evidence", "ticket=HD-7",
        )
    )  # fmt: skip
    assert "recorded email_marketing denied for ada@example.com (ledger #1)" in out
    (row,) = store.views.subject(EMAIL).timeline
    assert (row.source, row.status) == ("manual:alice", "denied")
    assert row.evidence["legal_basis"] == "consent"
    assert row.evidence["extra"] == {"ticket": "HD-7"}
    again = _ok(run("consent", "record", EMAIL, "email_marketing", "denied", "--source", "bob"))
    assert again.startswith("no change")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("not-an-email", "email_marketing", "denied"), "is not an email address"),
        ((EMAIL, "carrier_pigeon", "denied"), "unknown purpose 'carrier_pigeon'"),
        ((EMAIL, "email_marketing", "denied", "--evidence", "oops"), "is not key=value"),
        (
            (EMAIL, "email_marketing", "granted", "--evidence", "legal_basis=implied"),
            "legal_basis 'implied' must be one of consent, contract",
        ),
        (
            (EMAIL, "email_marketing", "granted", "--evidence", "captured_at=yesterday"),
            "captured_at 'yesterday' is not an ISO 8601 date or time",
        ),
        (
            (EMAIL, "email_marketing", "granted", "--evidence", "captured_at=2999-01-01"),
            "captured_at '2999-01-01' is in the future",
        ),
        ((EMAIL, "email_marketing", "granted", "--evidence", "note="), "note is empty"),
    ],
)
def test_consent_record_usage_errors_exit_2(
    run: Invoke, args: tuple[str, ...], message: str
) -> None:
    """Bad emails, unknown purposes and malformed evidence are usage errors (exit 2)."""
    result = run("consent", "record", *args, "--source", "alice")
    assert result.exit_code == 2
    assert message in result.stderr


def test_manual_grant_over_a_denial_without_required_evidence_is_refused(
    run: Invoke, store: Store
) -> None:
    """sms_marketing requires evidence: a bare grant over a denial is refused, nothing kept."""
    _ok(run("consent", "record", EMAIL, "sms_marketing", "denied", "--source", "alice"))
    rows_before = len(store.views.subject(EMAIL).timeline)
    bare = run("consent", "record", EMAIL, "sms_marketing", "granted", "--source", "alice")
    assert bare.exit_code == 2
    assert "refused: sms_marketing: this purpose requires evidence" in bare.stderr
    assert len(store.views.subject(EMAIL).timeline) == rows_before
    assert list(store.views.conflicts()) == []  # a refusal leaves no conflict behind
    proven = run(
        "consent", "record", EMAIL, "sms_marketing", "granted", "--source", "alice",
        "--evidence", "legal_basis=consent", "--evidence", "notice_ref=sms-terms-v2",
    )  # fmt: skip
    assert "recorded sms_marketing granted" in _ok(proven)
    assert {s.purpose: s.status for s in store.views.subject(EMAIL).states}["sms_marketing"] == (
        "granted"
    )


def test_subject_show_says_what_not_opted_out_means_under_each_regime(
    run: Invoke, store: Store, tmp_path: Path
) -> None:
    """`subject show` tells an explicit grant from "not opted out", per the purpose's regime."""
    ingest(
        store, [seen(SF, Status.NOT_OPTED_OUT, 0), seen(SF, Status.GRANTED, 0, "phone_calls")], 1
    )
    out = _ok(run("subject", "show", EMAIL))
    assert "no objection recorded, not consent; may not be contacted (opt_in regime)" in out
    assert "phone_calls      granted        explicit grant" in out
    config = tmp_path / "cfg"
    shutil.copytree(REPO / "connectors", config / "connectors")
    shutil.copytree(REPO / "mappings", config / "mappings")
    purposes = config / "mappings" / "purposes.yaml"
    purposes.write_text(
        purposes.read_text().replace("    policy: revocation_wins\n", "    regime: opt_out\n", 1)
    )
    data = json.loads(_ok(run("subject", "show", EMAIL, "--json", "--config", str(config))))
    email = data["state"]["email_marketing"]
    assert (email["status"], email["explicit"], email["regime"], email["permitted"]) == (
        "not_opted_out",
        False,
        "opt_out",
        True,
    )
    assert data["state"]["phone_calls"]["explicit"] is True


def test_subject_show_prints_state_links_and_timeline(run: Invoke, store: Store) -> None:
    """`subject show` prints state per purpose, links, pending writes and the timeline."""
    ingest(store, [seen(SF, Status.GRANTED, 0), seen(HS, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 5)], 6)
    out = _ok(run("subject", "show", EMAIL))
    assert "email_marketing  denied" in out
    assert (
        "hubspot/contact/501  email_marketing  denied  pending  0         2026-03-01T12:05" in out
    )
    assert "#2 2026-03-01T12:05:00+00:00 email_marketing: granted -> denied" in out
    assert "source_record=salesforce/Contact/003A" in out
    data = json.loads(_ok(run("subject", "show", EMAIL, "--json")))
    assert data["state"]["email_marketing"]["status"] == "denied"
    assert [e["seq"] for e in data["timeline"]] == [1, 2]
    assert {link["system"] for link in data["links"]} == {"salesforce", "hubspot"}
    assert data["pending_writes"][0]["link"] == str(HS)


def test_subject_show_unknown_person_exits_1(run: Invoke) -> None:
    """Asking about an email nobody has fails with exit 1."""
    result = run("subject", "show", "nobody@example.com")
    assert result.exit_code == 1
    assert "no subject with email nobody@example.com" in result.stderr


def test_conflicts_list_show_and_filters(run: Invoke, store: Store) -> None:
    """`conflicts list` filters by --open and --kind; `show` prints both sides as JSON."""
    conflict_id = _blocked_grant(store)
    listed = _ok(run("conflicts", "list", "--open"))
    assert "grant_blocked" in listed
    assert EMAIL not in listed
    assert _ok(run("conflicts", "list", "--kind", "drift")).strip() == "(none)"
    lines = _ok(run("conflicts", "list", "--json")).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [conflict_id]
    shown = json.loads(_ok(run("conflicts", "show", str(conflict_id))))
    assert {side["status"] for side in shown["sides"]} == {"granted", "denied"}
    assert run("conflicts", "list", "--kind", "nonsense").exit_code == 2
    assert run("conflicts", "show", "999").exit_code == 1


def test_conflicts_resolve_becomes_a_manual_decision(run: Invoke, store: Store) -> None:
    """`conflicts resolve` closes the conflict with a `manual:<by>` ledger row that propagates."""
    conflict_id = _blocked_grant(store)
    out = _ok(
        run(
            "conflicts", "resolve", str(conflict_id), "--status", "granted",
            "--note", "confirmed in writing", "--by", "bob",
        )
    )  # fmt: skip
    assert f"conflict #{conflict_id} resolved by manual:bob" in out
    assert _ok(run("conflicts", "list", "--open")).strip() == "(none)"
    row = store.views.subject(EMAIL).timeline[-1]
    assert (row.source, row.status, row.evidence["note"]) == (
        "manual:bob",
        "granted",
        "confirmed in writing",
    )
    again = run(
        "conflicts", "resolve", str(conflict_id), "--status", "denied", "--note", "x", "--by", "eve"
    )
    assert again.exit_code == 1
    assert "cannot be resolved" in again.stderr


def test_ledger_verify_ok_then_names_the_tampered_row(run: Invoke, store: Store) -> None:
    """`ledger verify` exits 0 with a count, and 1 naming the row altered behind the trigger."""
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 2)], 3)
    ingest(store, [seen(SF, Status.GRANTED, 4)], 5)
    assert "ledger OK: 3 row(s) verified" in _ok(run("ledger", "verify"))
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE ledger DISABLE TRIGGER ledger_append_only"))
        else:
            connection.execute(text("DROP TRIGGER ledger_no_update"))
        connection.execute(text("UPDATE ledger SET source = 'hubspot' WHERE seq = 2"))
    result = run("ledger", "verify")
    assert result.exit_code == 1
    assert "ledger row 2: content was altered" in result.stderr


def test_ledger_export_jsonl_csv_and_since(run: Invoke, store: Store) -> None:
    """`ledger export` streams every row as JSON lines or CSV; --since keeps later rows."""
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 2)], 3)
    rows = [json.loads(line) for line in _ok(run("ledger", "export")).splitlines()]
    assert [(r["seq"], r["status"], r["link"]) for r in rows] == [
        (1, "granted", str(SF)),
        (2, "denied", str(SF)),
    ]
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert [(r["explicit"], r["regime"], r["permitted"]) for r in rows] == [
        (True, "opt_in", True),
        (True, "opt_in", False),
    ]
    table = list(csv.DictReader(io.StringIO(_ok(run("ledger", "export", "--format", "csv")))))
    assert [r["seq"] for r in table] == ["1", "2"]
    assert json.loads(table[0]["evidence"])["source_record"] == str(SF)
    later = _ok(run("ledger", "export", "--since", "2026-03-01T12:02:00Z")).splitlines()
    assert [json.loads(line)["seq"] for line in later] == [2]
    assert run("ledger", "export", "--since", "yesterday").exit_code == 2


@pytest.mark.parametrize("url", ["not a url", "mysql://consent@db.internal/consent"])
def test_unusable_database_url_is_a_usage_error(url: str) -> None:
    """A malformed or unsupported CONSENT_SYNC_DATABASE_URL exits 2 naming the variable."""
    for args in (("ledger", "verify"), ("db", "upgrade")):
        result = _invoker(url)(*args)
        assert result.exit_code == 2
        assert "CONSENT_SYNC_DATABASE_URL is not a usable database URL" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://consent:Hunter2x@db.internal:fivefourthreetwo/consent",
        "postgresql://consent:Hunter2x@[::1/consent",
    ],
    ids=["port not a number", "unclosed IPv6 host"],
)
def test_database_url_that_does_not_parse_names_the_variable_not_the_password(url: str) -> None:
    """A URL whose port does not parse exits 2 naming the variable; the password never shows."""
    for args in (("ledger", "verify"), ("db", "upgrade"), ("db", "current"), ("conflicts", "list")):
        result = _invoker(url)(*args)
        assert result.exit_code == 2, result.output
        assert "CONSENT_SYNC_DATABASE_URL is not a usable database URL" in result.stderr
        assert "the port must be a number" in result.stderr
        assert "Hunter2x" not in result.output
