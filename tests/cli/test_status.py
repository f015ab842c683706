"""`consent-sync status` as on-call runs it: against both sandboxes, after real syncs.

0 on a healthy, synced deployment; 1 once Salesforce has refused writes for longer than a short
configured revocation SLA.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from consent_sync.store import Store
from consent_sync_sandbox.runner import RunningSandbox
from support.paths import CONSENT_SYNC, REPO
from support.sandboxes import MARKETING, sandbox_control
from support.waiting import wait_for

CONTACTS = 150
SANDBOX_SEED = 4
COMPOSITE = r"/composite/sobjects"


class Deployment:
    """A configuration directory (the shipped one, bent by a test), a store and the sandbox."""

    def __init__(self, sandbox: RunningSandbox, tmp_path: Path, salesforce_sla: float) -> None:
        self.sandbox = sandbox
        self.config = tmp_path / "config"
        shutil.copytree(REPO / "connectors", self.config / "connectors")
        shutil.copytree(REPO / "mappings", self.config / "mappings")
        settings = self.config / "connectors" / "salesforce.yaml"
        settings.write_text(
            settings.read_text().replace(
                "  timeout_seconds: 30\n",
                f"  timeout_seconds: 30\n  revocation_sla_seconds: {salesforce_sla}\n",
            )
        )
        self.database = f"sqlite:///{tmp_path / 'store.db'}"
        assert self.cli("db", "upgrade").returncode == 0

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.sandbox.env, "CONSENT_SYNC_DATABASE_URL": self.database}
        env["CONSENT_SYNC_CONFIG"] = str(self.config)
        return subprocess.run(
            [CONSENT_SYNC, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    def sync(self) -> None:
        done = self.cli("sync")
        assert done.returncode == 0, done.stderr

    def status(self) -> tuple[int, dict[str, Any]]:
        done = self.cli("status", "--json")
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)

    def granted_in_both(self) -> str:
        """Someone whose marketing email is granted, linked in both CRMs."""
        with Store.open(self.database) as store:
            with store.engine.connect() as connection:
                emails = [
                    row[0] for row in connection.exec_driver_sql("SELECT email FROM subjects")
                ]
            for email in sorted(emails):
                view = store.views.subject(email)
                states = {s.purpose: s.status for s in view.states}
                systems = {link.system for link in view.links if link.active}
                if {"salesforce", "hubspot"} <= systems and states.get("email_marketing") == (
                    "granted"
                ):
                    return email
        raise AssertionError("nobody is granted in both CRMs")

    def faults(self, system: str, config: dict[str, Any]) -> None:
        with sandbox_control(self.sandbox, system) as client:
            client.put("/_sandbox/faults", json=config).raise_for_status()


@pytest.fixture
def healthy(sandbox: RunningSandbox, tmp_path: Path) -> Deployment:
    """Both CRMs synced twice (the second sync converges), the default SLA."""
    deployment = Deployment(sandbox, tmp_path, salesforce_sla=900)
    deployment.sync()
    deployment.sync()
    return deployment


def test_status_exits_0_on_a_healthy_synced_system(healthy: Deployment) -> None:
    """After syncs that converged: every system's runs ok, nothing owed, quota known; exit 0."""
    code, report = healthy.status()
    assert code == 0, report["breaches"]
    assert report["ok"] is True
    assert set(report["systems"]) == {"salesforce", "hubspot", "mailchimp", "dynamics"}
    for name, system in report["systems"].items():
        assert system["runs"]["pull"]["ok"] is True, name
        assert system["runs"]["push"]["ok"] is True, name
        assert system["runs"]["sweep"] is None, name  # no sweep has run: said, not invented
        assert system["outbox"] == {"pending": 0, "dead": 0}, name
        assert system["oldest_unapplied_revocation_seconds"] is None, name
        assert system["revocation_sla_seconds"] == 900, name
        assert system["cursor_lag_seconds"], name  # every mapped object has pulled
        assert all(lag >= 0 for lag in system["cursor_lag_seconds"].values()), name
        quota = system["quota"]  # Salesforce and HubSpot report daily API usage, as the CRMs do
        if name in ("salesforce", "hubspot"):
            assert quota is not None and 0 < quota["used"] <= quota["limit"], name
    text = healthy.cli("status")
    assert text.returncode == 0, text.stdout
    assert "ok: nothing is late" in text.stdout
    assert "last pull" in text.stdout and "API quota" in text.stdout


def test_status_exits_1_once_refused_writes_outlast_the_sla(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Salesforce refuses every write (429s); a HubSpot unsubscribe waits longer than the 1 s
    SLA: status exits 1 naming Salesforce and the revocation, without the person's email."""
    deployment = Deployment(sandbox, tmp_path, salesforce_sla=1)
    deployment.sync()
    deployment.sync()
    email = deployment.granted_in_both()
    with sandbox_control(sandbox, "hubspot") as hubspot:
        hubspot.post(
            "/_sandbox/act",
            json={"action": "unsubscribe", "email": email, "subscription_id": MARKETING},
        ).raise_for_status()
    refused = {"path": COMPOSITE, "status": 429, "retry_after": "0"}
    deployment.faults("salesforce", {"rules": [refused]})
    try:
        deployment.sync()  # pulled from HubSpot; the write to Salesforce is refused, kept
        wait_for(lambda: deployment.status()[0] == 1, 30, "status to report the breach")
    finally:
        deployment.faults("salesforce", {})
    code, report = deployment.status()
    assert code == 1
    salesforce = report["systems"]["salesforce"]
    assert salesforce["outbox"]["pending"] >= 1
    assert salesforce["oldest_unapplied_revocation_seconds"] > 1
    assert any(b.startswith("salesforce: a revocation unapplied") for b in report["breaches"])
    assert report["systems"]["hubspot"]["breaches"] == []
    text = deployment.cli("status")
    assert text.returncode == 1
    assert "BREACH" in text.stdout
    assert email not in text.stdout + json.dumps(report)


def test_status_exits_1_while_the_newest_pull_failed(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """A pull Salesforce refuses is a failing run: status exits 1 quoting the refusal (an email
    in it redacted); after a sync that succeeds, it exits 0 again."""
    deployment = Deployment(sandbox, tmp_path, salesforce_sla=900)
    deployment.sync()
    refusal = [{"errorCode": "INVALID_SESSION", "message": "refused for ops@example.com"}]
    deployment.faults(
        "salesforce", {"rules": [{"path": r"/query", "status": 403, "body": refusal}]}
    )
    try:
        assert deployment.cli("sync").returncode == 1
    finally:
        deployment.faults("salesforce", {})
    code, report = deployment.status()
    assert code == 1
    (breach,) = report["breaches"]
    assert breach.startswith("salesforce: last pull failed:") and "INVALID_SESSION" in breach
    assert "ops@example.com" not in json.dumps(report)
    assert report["systems"]["salesforce"]["runs"]["pull"]["last_ok_at"] is not None
    deployment.sync()
    assert deployment.status()[0] == 0
