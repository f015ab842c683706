"""`consent-sync outbox list|retry` against the sandboxes: a write Salesforce refused for good is
listed as a dead letter, and once retried the next sync delivers it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from consent_sync.store import Store
from consent_sync_sandbox.runner import RunningSandbox
from support.paths import CONSENT_SYNC, REPO
from support.sandboxes import MARKETING, sandbox_control

CONTACTS = 150
SANDBOX_SEED = 6
COMPOSITE = r"/composite/sobjects"


class Deployment:
    """The shipped configuration, a store of its own and the module's sandbox."""

    def __init__(self, sandbox: RunningSandbox, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.database = f"sqlite:///{tmp_path / 'store.db'}"
        assert self.cli("db", "upgrade").returncode == 0

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.sandbox.env, "CONSENT_SYNC_DATABASE_URL": self.database}
        env["CONSENT_SYNC_CONFIG"] = str(REPO)
        return subprocess.run(
            [CONSENT_SYNC, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    def ok(self, *args: str) -> str:
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def dead_letters(self) -> list[dict[str, Any]]:
        return [
            json.loads(line) for line in self.ok("outbox", "list", "--dead", "--json").splitlines()
        ]

    def salesforce_records(self, email: str) -> list[dict[str, Any]]:
        with sandbox_control(self.sandbox, "salesforce") as client:
            records: list[dict[str, Any]] = client.get(
                "/_sandbox/records", params={"email": email}
            ).json()
        return [r for r in records if not r["IsDeleted"]]

    def faults(self, system: str, config: dict[str, Any]) -> None:
        with sandbox_control(self.sandbox, system) as client:
            client.put("/_sandbox/faults", json=config).raise_for_status()

    def granted_in_both(self) -> str:
        """Someone whose marketing email is granted, linked in both CRMs, whose Salesforce
        records are all Contacts or Leads (no consent record: one refused write, one letter)."""
        with Store.open(self.database) as store:
            with store.engine.connect() as connection:
                emails = [
                    row[0] for row in connection.exec_driver_sql("SELECT email FROM subjects")
                ]
            for email in sorted(emails):
                view = store.views.subject(email)
                states = {s.purpose: s.status for s in view.states}
                active = [link for link in view.links if link.active]
                if (
                    {"salesforce", "hubspot"} <= {link.system for link in active}
                    and all(
                        link.object_type in ("Contact", "Lead")
                        for link in active
                        if link.system == "salesforce"
                    )
                    and states.get("email_marketing") == "granted"
                ):
                    return email
        raise AssertionError("nobody is granted in both CRMs")


def _refused_for_good(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Salesforce answering every composite write with a validation-rule failure per record."""
    failure = {
        "statusCode": "FIELD_INTEGRITY_EXCEPTION",
        "message": "Email Opt Out is locked by a validation rule",
        "fields": ["HasOptedOutOfEmail"],
    }
    body = [{"id": r["Id"], "success": False, "errors": [failure]} for r in records]
    return {"rules": [{"path": COMPOSITE, "status": 200, "body": body}]}


@pytest.fixture
def dead_lettered(sandbox: RunningSandbox, tmp_path: Path) -> tuple[Deployment, str]:
    """A HubSpot unsubscribe whose write Salesforce refused for good: one dead letter."""
    deployment = Deployment(sandbox, tmp_path)
    deployment.ok("sync")
    deployment.ok("sync")
    assert deployment.dead_letters() == []
    email = deployment.granted_in_both()
    with sandbox_control(sandbox, "hubspot") as hubspot:
        hubspot.post(
            "/_sandbox/act",
            json={"action": "unsubscribe", "email": email, "subscription_id": MARKETING},
        ).raise_for_status()
    deployment.faults("salesforce", _refused_for_good(deployment.salesforce_records(email)))
    try:
        deployment.ok("sync")
    finally:
        deployment.faults("salesforce", {})
    return deployment, email


def test_a_refused_write_is_listed_as_a_dead_letter(dead_lettered: tuple[Deployment, str]) -> None:
    """`outbox list --dead` shows the refused denial by record, with the CRM's reason; the
    person's email appears nowhere; `status` exits 1 for the dead letter."""
    deployment, email = dead_lettered
    (dead,) = deployment.dead_letters()
    assert dead["state"] == "dead"
    assert dead["system"] == "salesforce"
    assert dead["record"].startswith("salesforce/Contact/")
    assert (dead["purpose"], dead["status"]) == ("email_marketing", "denied")
    assert "FIELD_INTEGRITY_EXCEPTION" in dead["last_error"]
    table = deployment.ok("outbox", "list")
    assert str(dead["id"]) in table and "dead" in table
    assert email not in table + json.dumps(dead)
    status = deployment.cli("status")
    assert status.returncode == 1
    assert "salesforce: 1 dead letter(s)" in status.stdout


def test_a_retried_dead_letter_is_delivered_by_the_next_sync(
    dead_lettered: tuple[Deployment, str],
) -> None:
    """`outbox retry ID` moves it back to pending; the next sync writes the opt-out to
    Salesforce, and status exits 0 again."""
    deployment, email = dead_lettered
    (dead,) = deployment.dead_letters()
    assert not all(r["HasOptedOutOfEmail"] is True for r in deployment.salesforce_records(email))
    said = deployment.ok("outbox", "retry", str(dead["id"]))
    assert "moved back to pending" in said
    assert deployment.dead_letters() == []
    deployment.ok("sync")
    records = deployment.salesforce_records(email)
    assert records and all(r["HasOptedOutOfEmail"] is True for r in records)
    assert deployment.ok("outbox", "list").strip() == "(none)"
    assert deployment.cli("status").returncode == 0


def test_retry_all_dead_and_what_retry_refuses(dead_lettered: tuple[Deployment, str]) -> None:
    """--all-dead retries every dead letter; a row that is not dead exits 1; no id and no
    --all-dead (or both) is a usage error, exit 2."""
    deployment, _ = dead_lettered
    (dead,) = deployment.dead_letters()
    assert deployment.cli("outbox", "retry").returncode == 2
    assert deployment.cli("outbox", "retry", str(dead["id"]), "--all-dead").returncode == 2
    assert "1 dead letter(s) moved back to pending" in deployment.ok(
        "outbox", "retry", "--all-dead"
    )
    again = deployment.cli("outbox", "retry", str(dead["id"]))
    assert again.returncode == 1
    assert "is pending, not a dead letter" in again.stderr
    missing = deployment.cli("outbox", "retry", "999999")
    assert missing.returncode == 1
