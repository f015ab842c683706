"""Honest identity end to end: the Salesforce sandbox over HTTPS, the official client, the
repository's own connectors/ and mappings/, the engine and a real SQLite store.

In order on one world: a rep gives one person's contact another person's email (held for
review, then merged by on-call, and the denial reaches the other person's contact); then a
contact arrives with a zero-width space in its email (refused, while its page goes on).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.domain.identity import EMAIL_JOINS_OTHER, EMAIL_REFUSED
from consent_sync.store import Store, SubjectNotFoundError
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.databases import migrate
from support.paths import REPO
from support.sandboxes import sandbox_control

ADA = "ident.ada@example.com"
GRACE = "ident.grace@example.com"


@dataclass
class World:
    sandbox: RunningSandbox
    config: DeploymentConfig
    salesforce: Connector
    store: Store
    engine: SyncEngine

    def cycle(self) -> CycleReport:
        return self.engine.cycle("salesforce")

    def act(self, **body: Any) -> list[str]:
        """A person acts in the Salesforce UI; the ids of the records changed."""
        with sandbox_control(self.sandbox, "salesforce", timeout=5) as sf:
            acted = sf.post("/_sandbox/act", json=body)
        assert acted.status_code == 200, acted.text
        ids: list[str] = acted.json()["ids"]
        return ids

    def record(self, record_id: str) -> dict[str, Any]:
        with sandbox_control(self.sandbox, "salesforce", timeout=5) as sf:
            (found,) = sf.get("/_sandbox/records", params={"id": record_id}).json()
        assert isinstance(found, dict)
        return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("identity")
    sandbox = start_sandbox(root / "sandbox", contacts=20, seed=5)
    url = migrate(f"sqlite:///{root / 'consent-sync.db'}")
    config = load_config(REPO, env=sandbox.env)
    salesforce = build_connector(config.connectors["salesforce"], config.mappings["salesforce"])
    store = Store.open(url)
    try:
        engine = SyncEngine(store, config, {"salesforce": salesforce})
        yield World(sandbox, config, salesforce, store, engine)
    finally:
        store.close()
        salesforce.close()
        sandbox.stop()


@pytest.fixture(scope="module")
def contacts(world: World) -> dict[str, str]:
    """Ada opted out of email, Grace did not: two people, two contacts, both linked."""
    world.cycle()  # the seeded backfill
    (ada,) = world.act(
        action="create", fields={"LastName": "Ada", "Email": ADA, "HasOptedOutOfEmail": True}
    )
    (grace,) = world.act(
        action="create",
        fields={"LastName": "Grace", "Email": GRACE, "HasOptedOutOfEmail": False},
    )
    world.cycle()
    assert _email_state(world, ADA) == "denied"
    assert _email_state(world, GRACE) == "not_opted_out"
    return {"ada": ada, "grace": grace}


def _email_state(world: World, email: str) -> str:
    states = {s.purpose: s.status for s in world.store.views.subject(email).states}
    return states["email_marketing"]


def _linked(world: World, email: str) -> set[str]:
    return {link.record_id for link in world.store.views.subject(email).links if link.active}


def test_a_contact_taking_another_persons_email_is_held_for_review(
    world: World, contacts: dict[str, str]
) -> None:
    """The rep's edit moves nothing: Ada's contact stays hers with her opt-out, nothing is
    written to either contact, and a needs-review conflict names both contacts."""
    world.act(id=contacts["ada"], fields={"Email": GRACE})
    report = world.cycle()
    assert report.conflicts["identity_ambiguous"] == 1, report
    assert (report.decisions, report.writes_ok) == (0, 0), report
    assert _linked(world, ADA) == {contacts["ada"]}
    assert _linked(world, GRACE) == {contacts["grace"]}
    assert (_email_state(world, ADA), _email_state(world, GRACE)) == ("denied", "not_opted_out")
    assert world.record(contacts["ada"])["HasOptedOutOfEmail"] is True
    assert world.record(contacts["grace"])["HasOptedOutOfEmail"] is False
    (conflict,) = [
        c for c in world.store.views.conflicts(open_only=True) if c.rule == EMAIL_JOINS_OTHER
    ]
    assert conflict.severity == "needs_review"
    assert conflict.link == f"salesforce/Contact/{contacts['ada']}"
    assert conflict.detail["other_records"] == [f"salesforce/Contact/{contacts['grace']}"]
    quiet = world.cycle()
    assert quiet.conflicts["identity_ambiguous"] == 0 and quiet.decisions == 0, quiet


def test_merging_sends_the_denial_to_the_other_persons_contact(
    world: World, contacts: dict[str, str]
) -> None:
    """On-call merges: Grace takes Ada's opt-out (a ledger row) and her own contact is ticked."""
    (conflict,) = [
        c for c in world.store.views.conflicts(open_only=True) if c.rule == EMAIL_JOINS_OTHER
    ]
    assert conflict.id is not None
    merged = world.store.decisions.resolve_identity(
        conflict.id,
        merge=True,
        by="oncall",
        note="the rep fixed Grace's contact",
        purposes=world.config.purposes,
        now=world.engine.clock(),
        targets=world.engine.targets,
    )
    assert merged is not None and len(merged.ledger_seqs) == 1
    report = world.cycle()
    assert report.writes_ok >= 1, report
    assert _email_state(world, GRACE) == "denied"
    assert _linked(world, GRACE) == {contacts["ada"], contacts["grace"]}
    assert world.record(contacts["grace"])["HasOptedOutOfEmail"] is True
    assert world.record(contacts["ada"])["HasOptedOutOfEmail"] is True
    assert world.store.views.subject(GRACE).timeline[-1].source == "manual:oncall"
    assert world.store.views.verify_ledger().ok
    quiet = world.cycle()
    assert (quiet.decisions, quiet.writes_ok) == (0, 0), quiet


def test_a_zero_width_email_is_refused_and_the_page_goes_on(world: World) -> None:
    """A contact whose email hides a zero-width space links nobody and says why; a contact
    created alongside it is linked as usual."""
    (spoofed,) = world.act(
        action="create",
        fields={"LastName": "Zoe", "Email": "zoe\u200b@example.com", "HasOptedOutOfEmail": False},
    )
    (plain,) = world.act(action="create", fields={"LastName": "Dora", "Email": "dora@example.com"})
    report = world.cycle()
    assert report.conflicts["identity_ambiguous"] == 1, report
    assert report.unmatched >= 1, report
    assert _linked(world, "dora@example.com") == {plain}
    with pytest.raises(SubjectNotFoundError):
        world.store.views.subject("zoe@example.com")
    (refusal,) = [c for c in world.store.views.conflicts(open_only=True) if c.rule == EMAIL_REFUSED]
    assert refusal.link == f"salesforce/Contact/{spoofed}"
    assert "U+200B ZERO WIDTH SPACE" in refusal.message
    assert world.cycle().conflicts["identity_ambiguous"] == 0  # reported once while open
