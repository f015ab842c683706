"""Least permissive within a system, end to end: the Salesforce sandbox over HTTPS, the official
client, the repository's own connectors/ and mappings/, the engine, a real SQLite store and the
`consent-sync conflicts` commands.

In order on one world: a person has a Contact and a Lead under one email that disagree at first
sight; later the Lead is set to "Opted In" for SMS while the Contact still says "Opted Out"
(blocked, and the conflict names both records); then the Contact itself opts in (it applies).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from typer.testing import CliRunner

from consent_sync.cli import app
from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.store import Store
from consent_sync.store.tables import ConflictRow
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.databases import migrate
from support.paths import REPO
from support.sandboxes import sandbox_control

PERSON = "least.ada@example.com"


@dataclass
class World:
    sandbox: RunningSandbox
    url: str
    config: DeploymentConfig
    salesforce: Connector
    store: Store
    engine: SyncEngine

    def cycle(self) -> CycleReport:
        return self.engine.cycle("salesforce")

    def act(self, **body: Any) -> str:
        """A person acts in the Salesforce UI on one record; its id."""
        with sandbox_control(self.sandbox, "salesforce", timeout=5) as sf:
            acted = sf.post("/_sandbox/act", json=body)
        assert acted.status_code == 200, acted.text
        (record_id,) = acted.json()["ids"]
        assert isinstance(record_id, str)
        return record_id

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        with sandbox_control(self.sandbox, "salesforce", timeout=5) as sf:
            (found,) = sf.get(
                "/_sandbox/records", params={"sobject": sobject, "id": record_id}
            ).json()
        assert isinstance(found, dict)
        return found

    def states(self) -> dict[str, str]:
        return {s.purpose: s.status for s in self.store.views.subject(PERSON).states}

    def conflicts(self, kind: str) -> list[ConflictRow]:
        subject = self.store.views.subject(PERSON).subject.id
        return [
            c for c in self.store.views.conflicts() if c.kind == kind and c.subject_id == subject
        ]

    def cli(self, *args: str) -> str:
        env = {"CONSENT_SYNC_DATABASE_URL": self.url, "CONSENT_SYNC_CONFIG": str(REPO)}
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("least_permissive")
    sandbox = start_sandbox(root / "sandbox", contacts=20, seed=7)
    url = migrate(f"sqlite:///{root / 'consent-sync.db'}")
    config = load_config(REPO, env=sandbox.env)
    # A deployment that takes the "SMS Consent" picklist's "Opted In" as a grant on its own: the
    # shipped purposes ask for evidence a picklist cannot carry, which would block it anyway.
    sms = replace(config.purposes["sms_marketing"], require_evidence=False)
    config.purposes["sms_marketing"] = sms
    salesforce = build_connector(config.connectors["salesforce"], config.mappings["salesforce"])
    store = Store.open(url)
    try:
        engine = SyncEngine(store, config, {"salesforce": salesforce})
        yield World(sandbox, url, config, salesforce, store, engine)
    finally:
        store.close()
        salesforce.close()
        sandbox.stop()


@pytest.fixture(scope="module")
def records(world: World) -> dict[str, str]:
    """The seeded backfill, then one person's Contact and Lead, created before one pull."""
    world.cycle()
    world.cycle()
    contact = world.act(
        action="create",
        sobject="Contact",
        fields={
            "LastName": "Lovelace",
            "Email": PERSON,
            "HasOptedOutOfEmail": True,
            "DoNotCall": False,
            "SMS_Consent__c": "Opted Out",
        },
    )
    lead = world.act(
        action="create",
        sobject="Lead",
        fields={
            "LastName": "Lovelace",
            "Email": PERSON.upper(),  # the same person, however the rep typed it
            "HasOptedOutOfEmail": False,
            "DoNotCall": True,
        },
    )
    return {"Contact": contact, "Lead": lead}


def _named(conflict: ConflictRow) -> dict[str, str]:
    return {r["record_id"]: r["status"] for r in conflict.detail["records"]}


def test_contact_and_lead_disagreeing_at_first_sight_end_denied(
    world: World, records: dict[str, str]
) -> None:
    """One pull reads the Contact's page, then the Lead's: each purpose that either record
    refuses is denied, an info conflict names both records, and the other record is told."""
    report = world.cycle()
    assert report.conflicts["grant_blocked"] == 0, report
    states = world.states()
    assert [states[p] for p in ("email_marketing", "phone_calls", "sms_marketing")] == [
        "denied",
        "denied",
        "denied",
    ]
    disagreements = {c.purpose: c for c in world.conflicts("initial_disagreement")}
    assert set(disagreements) == {"email_marketing", "phone_calls"}
    contact, lead = records["Contact"], records["Lead"]
    assert _named(disagreements["email_marketing"]) == {contact: "denied", lead: "not_opted_out"}
    assert _named(disagreements["phone_calls"]) == {contact: "not_opted_out", lead: "denied"}
    assert all(c.severity == "info" for c in disagreements.values())
    held = world.record("Lead", lead)
    assert (held["HasOptedOutOfEmail"], held["SMS_Consent__c"]) == (True, "Opted Out")
    assert world.record("Contact", contact)["DoNotCall"] is True


def test_the_next_cycle_is_quiet(world: World, records: dict[str, str]) -> None:
    """I3: the records hold what consent-sync wrote; reading them again changes nothing."""
    report = world.cycle()
    assert (report.decisions, report.writes_ok, sum(report.conflicts.values())) == (0, 0, 0)


def test_an_opt_in_on_the_lead_does_not_lift_the_contacts_opt_out(
    world: World, records: dict[str, str]
) -> None:
    """A rep sets the Lead's SMS Consent to "Opted In": the Contact still says "Opted Out", so
    Salesforce's answer for the person is no. Blocked for review, both records named, and the
    Lead set back to "Opted Out"; `conflicts list` and `show` say so."""
    contact, lead = records["Contact"], records["Lead"]
    world.act(action="update", sobject="Lead", id=lead, fields={"SMS_Consent__c": "Opted In"})
    report = world.cycle()
    assert (report.decisions, report.conflicts["grant_blocked"]) == (0, 1), report
    assert world.states()["sms_marketing"] == "denied"
    assert world.record("Lead", lead)["SMS_Consent__c"] == "Opted Out"
    (blocked,) = world.conflicts("grant_blocked")
    assert blocked.rule == "revocation_wins:denied_in_system"
    listed = world.cli("conflicts", "list", "--open", "--kind", "grant_blocked")
    assert f"salesforce/Lead/{lead}" in listed
    assert f"another record of this person (Contact {contact})" in listed
    shown = json.loads(world.cli("conflicts", "show", str(blocked.id)))
    assert (shown["kind"], shown["severity"], shown["purpose"]) == (
        "grant_blocked",
        "needs_review",
        "sms_marketing",
    )
    assert {
        (r["object_type"], r["record_id"], r["status"]) for r in shown["detail"]["records"]
    } == {
        ("Lead", lead, "granted"),
        ("Contact", contact, "denied"),
    }
    assert PERSON not in json.dumps(shown).lower()
    quiet = world.cycle()
    assert (quiet.decisions, quiet.writes_ok, sum(quiet.conflicts.values())) == (0, 0, 0)


def test_an_opt_in_on_the_contact_itself_applies(world: World, records: dict[str, str]) -> None:
    """Now the Contact opts in: the Lead's "Opted Out" is only what consent-sync wrote there, so
    nothing in the org still refuses; the grant applies and reaches the Lead."""
    contact, lead = records["Contact"], records["Lead"]
    world.act(action="update", sobject="Contact", id=contact, fields={"SMS_Consent__c": "Opted In"})
    report = world.cycle()
    assert report.decisions == 1 and report.conflicts["grant_blocked"] == 0, report
    assert world.states()["sms_marketing"] == "granted"
    assert world.record("Lead", lead)["SMS_Consent__c"] == "Opted In"
    quiet = world.cycle()
    assert (quiet.decisions, quiet.writes_ok, sum(quiet.conflicts.values())) == (0, 0, 0)
