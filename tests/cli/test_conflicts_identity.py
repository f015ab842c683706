"""`consent-sync conflicts resolve ID --merge | --keep-apart` for identity conflicts, through the
real CLI app on SQLite and PostgreSQL; answers that do not fit exit 2 and change nothing."""

from __future__ import annotations

import json
from typing import Protocol

import pytest
from typer.testing import CliRunner, Result

from consent_sync.cli import app
from consent_sync.domain.identity import MatchKeys, read_email
from consent_sync.domain.model import LinkKey, Status
from consent_sync.store import Store
from support.paths import REPO
from support.store_builders import EMAIL, HS, PURPOSES, SF, at, ingest, seen

GRACE = "grace@example.com"
LEAD = LinkKey("salesforce", "Lead", "00QB")


class Invoke(Protocol):
    def __call__(self, *args: str) -> Result: ...


@pytest.fixture
def run(store: Store, migrated_db_url: str) -> Invoke:
    runner = CliRunner()
    env = {"CONSENT_SYNC_DATABASE_URL": migrated_db_url, "CONSENT_SYNC_CONFIG": str(REPO)}
    return lambda *args: runner.invoke(app, list(args), env=env)


def _ambiguous(store: Store) -> str:
    """Ada denied (Salesforce contact + HubSpot), Grace granted (a Lead); Ada's contact takes
    Grace's email. The open identity conflict's id."""
    ingest(store, [seen(SF, Status.DENIED, 0), seen(HS, Status.DENIED, 0)], 1)
    ingest(store, [seen(LEAD, Status.GRANTED, 0)], 2, emails={LEAD: GRACE})
    ingest(store, [seen(SF, Status.DENIED, 0)], 3, emails={SF: GRACE})
    (conflict,) = store.views.conflicts(open_only=True)
    return str(conflict.id)


def _resolve(run: Invoke, conflict_id: str, *answer: str) -> Result:
    return run("conflicts", "resolve", conflict_id, *answer, "--note", "checked", "--by", "bob")


def test_merge_moves_the_record_and_carries_the_denial(run: Invoke, store: Store) -> None:
    """--merge: Grace takes Ada's denial (a manual:bob ledger row) and the record joins her."""
    conflict_id = _ambiguous(store)
    result = _resolve(run, conflict_id, "--merge")
    assert result.exit_code == 0, result.output
    grace = store.views.subject(GRACE)
    assert f"conflict #{conflict_id} resolved by manual:bob: merged into subject" in result.stdout
    assert f"1 denial(s) carried over (ledger #{grace.timeline[-1].seq})" in result.stdout
    assert {s.purpose: s.status for s in grace.states} == {"email_marketing": "denied"}
    assert "003A" in {link.record_id for link in grace.links}
    assert GRACE not in result.output and EMAIL not in result.output


def test_keep_apart_closes_with_the_note(run: Invoke, store: Store) -> None:
    """--keep-apart: closed with the note; the record stays with Ada; Grace keeps her grant."""
    conflict_id = _ambiguous(store)
    result = _resolve(run, conflict_id, "--keep-apart")
    assert result.exit_code == 0, result.output
    assert "kept apart" in result.stdout
    assert store.views.conflict(int(conflict_id)).resolution_note == "checked"
    assert {s.status for s in store.views.subject(GRACE).states} == {"granted"}
    assert "003A" in {link.record_id for link in store.views.subject(EMAIL).links}


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (("--merge", "--keep-apart"), "--merge and --keep-apart exclude each other"),
        (("--status", "denied", "--merge"), "--status decides consent, --merge identity"),
        (("--status", "granted", "--keep-apart"), "give one"),
        ((), "give --status, or --merge or --keep-apart"),
        (("--status", "denied"), "is identity_ambiguous: resolve it with --merge or --keep-apart"),
    ],
)
def test_answers_that_do_not_fit_exit_2_and_change_nothing(
    run: Invoke, store: Store, answer: tuple[str, ...], said: str
) -> None:
    """Contradictory or missing answers, or a status for an identity conflict: exit 2."""
    conflict_id = _ambiguous(store)
    result = _resolve(run, conflict_id, *answer)
    assert result.exit_code == 2, result.output
    assert said in result.stderr
    assert store.views.conflict(int(conflict_id)).status == "open"


def test_identity_answers_for_other_conflicts_exit_2(run: Invoke, store: Store) -> None:
    """--merge for a grant_blocked conflict, or for a refused email (nobody to merge into)."""
    ingest(store, [seen(SF, Status.DENIED, 10), seen(HS, Status.DENIED, 10)], 11)
    ingest(store, [seen(HS, Status.GRANTED, 5)], 12)
    _, refused = read_email("ada\u200b@example.com")
    keys = {LEAD: MatchKeys(refused=refused)}
    store.decisions.ingest([seen(LEAD, Status.DENIED, 0)], keys, PURPOSES, at(13))
    by_kind = {c.kind: str(c.id) for c in store.views.conflicts(open_only=True)}
    blocked = _resolve(run, by_kind["grant_blocked"], "--merge")
    assert blocked.exit_code == 2
    assert "is grant_blocked: --merge is for identity_ambiguous conflicts" in blocked.stderr
    refusal = _resolve(run, by_kind["identity_ambiguous"], "--merge")
    assert refusal.exit_code == 2
    assert "names no other subject to merge into" in refusal.stderr
    assert _resolve(run, by_kind["identity_ambiguous"], "--keep-apart").exit_code == 0


def test_show_and_list_redact_the_emails(run: Invoke, store: Store) -> None:
    """The store keeps both emails; `conflicts show` and `list --json` print them redacted."""
    conflict_id = _ambiguous(store)
    shown = run("conflicts", "show", conflict_id)
    listed = run("conflicts", "list", "--json")
    table = run("conflicts", "list")
    for result in (shown, listed, table):
        assert result.exit_code == 0, result.output
        assert GRACE not in result.output and EMAIL not in result.output
    detail = json.loads(shown.stdout)["detail"]
    assert (detail["email"], detail["previous_email"]) == ("g***@example.com", "a***@example.com")
    assert detail["other_records"] == [str(LEAD)]
