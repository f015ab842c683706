"""No fabricated consent, end to end: `consent-sync sync` twice against both sandboxes, with the
repository's own configuration, as a new user runs it (docs/design.md, "What a grant is").

A person created in Salesforce with the default, unticked opt-out boxes and in HubSpot with no
subscription status at all has consented to nothing: after two syncs nobody holds an opt-in for
them, and every SUBSCRIBED that consent-sync wrote carries the legal basis its decision recorded.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from consent_sync.connectors.hubspot.preferences import hubspot_basis
from consent_sync.domain.model import ConflictKind
from consent_sync.store import Store
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.paths import CONSENT_SYNC, REPO
from support.sandboxes import MARKETING, sandbox_control

PERSON = "new.person@example.com"
SIGNED_UP = "signed.up@example.com"  # opts in on a web form, with a legal basis and a note
TOLD_REP = "told.rep@example.com"  # "said yes" to a rep: recorded without a legal basis
MARKETING_KEY = str(MARKETING)  # how a contact's subscriptions are keyed


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSandbox, str]]:
    root = tmp_path_factory.mktemp("fabricated")
    sandbox = start_sandbox(root / "sandbox", contacts=300, seed=5)
    try:
        for email in (PERSON, SIGNED_UP, TOLD_REP):
            with sandbox_control(sandbox, "salesforce") as sf:
                sf.post(
                    "/_sandbox/act",
                    json={
                        "action": "create",
                        "sobject": "Contact",
                        "fields": {"LastName": "Person", "Email": email},
                    },
                ).raise_for_status()
            with sandbox_control(sandbox, "hubspot") as hs:
                hs.post(
                    "/_sandbox/act", json={"action": "create", "email": email}
                ).raise_for_status()
        url = f"sqlite:///{root / 'consent-sync.db'}"
        env = {**os.environ, **sandbox.env, "CONSENT_SYNC_DATABASE_URL": url}
        cli = [str(CONSENT_SYNC)]
        run = {"cwd": REPO, "env": env, "check": True, "capture_output": True, "text": True}
        subprocess.run([*cli, "db", "upgrade"], **run)  # type: ignore[call-overload]
        subprocess.run([*cli, "sync"], **run)  # type: ignore[call-overload]
        record = [*cli, "consent", "record"]
        subprocess.run(  # type: ignore[call-overload]
            [
                *record,
                *(SIGNED_UP, "email_marketing", "granted", "--source", "api:signup-form"),
                *("--evidence", "legal_basis=consent", "--evidence", "note=ticked the form's box"),
            ],
            **run,
        )
        subprocess.run(  # type: ignore[call-overload]
            [*record, TOLD_REP, "email_marketing", "granted", "--source", "rep"], **run
        )
        subprocess.run([*cli, "sync"], **run)  # type: ignore[call-overload]
        yield sandbox, url
    finally:
        sandbox.stop()


def _hubspot_contact(sandbox: RunningSandbox, email: str) -> dict[str, Any]:
    with sandbox_control(sandbox, "hubspot") as hs:
        found: list[dict[str, Any]] = hs.get("/_sandbox/contacts", params={"email": email}).json()
    return found[0] if isinstance(found, list) else found


def test_a_person_nobody_asked_holds_no_opt_in_after_two_syncs(
    synced: tuple[RunningSandbox, str],
) -> None:
    """Unticked boxes and no HubSpot status stay what they are: nobody is subscribed."""
    sandbox, url = synced
    contact = _hubspot_contact(sandbox, PERSON)
    status = contact["subscriptions"].get(MARKETING_KEY, {}).get("status", "NOT_SPECIFIED")
    assert status != "SUBSCRIBED"
    with sandbox_control(sandbox, "salesforce") as sf:
        (record,) = sf.get("/_sandbox/records", params={"email": PERSON}).json()
    assert record["HasOptedOutOfEmail"] is False and record["DoNotCall"] is False
    with Store.open(url) as store:
        view = store.views.subject(PERSON)
        states = {s.purpose: s.status for s in view.states}
        assert states["email_marketing"] == "not_opted_out"
        assert "granted" not in states.values()
        assert [d for d in view.deliveries if d.status == "granted"] == []


def test_every_subscribed_written_carries_its_decisions_legal_basis(
    synced: tuple[RunningSandbox, str],
) -> None:
    """Each opt-in pushed to HubSpot has the legal basis of the ledger row it was pushed for."""
    sandbox, url = synced
    with Store.open(url) as store, store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.email, d.decision_seq FROM deliveries d "
                "JOIN links l ON l.id = d.link_id JOIN subjects s ON s.id = l.subject_id "
                "WHERE l.system = 'hubspot' AND d.status = 'granted' "
                "AND d.purpose = 'email_marketing'"
            )
        ).all()
        proofs = store.views.evidence([seq for _, seq in rows if seq is not None])
        written_optins = [email for email, _ in rows]
        for email, seq in rows:
            assert seq is not None, f"opt-in to {email} without a decision"
            basis = proofs[seq].legal_basis
            assert basis is not None, f"opt-in to {email} from a decision without a basis"
            held = _hubspot_contact(sandbox, email)["subscriptions"][MARKETING_KEY]
            assert held["status"] == "SUBSCRIBED"
            assert held["legalBasis"] == hubspot_basis(basis)
            assert held["legalBasisExplanation"] == proofs[seq].note
    assert SIGNED_UP in written_optins
    assert TOLD_REP not in written_optins


def test_a_grant_without_a_legal_basis_is_withheld_with_a_conflict(
    synced: tuple[RunningSandbox, str],
) -> None:
    """A grant recorded without a basis is not sent to HubSpot; an info conflict says why."""
    sandbox, url = synced
    held = _hubspot_contact(sandbox, TOLD_REP)["subscriptions"].get(MARKETING_KEY, {})
    assert held.get("status", "NOT_SPECIFIED") == "NOT_SPECIFIED"
    with Store.open(url) as store:
        subject = store.views.subject(TOLD_REP).subject.id
        (conflict,) = [
            c
            for c in store.views.conflicts(kind=ConflictKind.GRANT_NOT_REPRESENTABLE)
            if c.subject_id == subject
        ]
        assert conflict.severity == "info" and "legal basis" in conflict.message
        with sandbox_control(sandbox, "salesforce") as sf:
            (record,) = sf.get("/_sandbox/records", params={"email": TOLD_REP}).json()
        assert record["HasOptedOutOfEmail"] is False  # a grant leaves the opt-out box unticked
