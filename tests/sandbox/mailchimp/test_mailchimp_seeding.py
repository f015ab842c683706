"""What a seeded audience looks like over HTTP: mostly never asked, evidence on every opt-in,
unsubscribes with their reasons, a few bounces; shared people under the other systems' emails."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from consent_sync_sandbox.mailchimp.seeding import mailchimp_people
from consent_sync_sandbox.mailchimp.store import MemberQuery, MemberStore
from consent_sync_sandbox.seed import iter_people
from support.mailchimp_emulator import SEED, Sandbox, every_member

CONTACTS = 3000


@pytest.fixture(scope="module")
def members(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every seeded member, read with the official client."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_file))
        return every_member(sandbox.client(), sandbox.list_id)


def test_most_members_were_never_asked(members: list[dict[str, Any]]) -> None:
    """Transactional (never asked about marketing) is the majority; each other status a minority."""
    shares = {s: n / CONTACTS for s, n in Counter(m["status"] for m in members).items()}
    assert shares["transactional"] > 0.5
    assert 0.08 < shares["subscribed"] < 0.2
    assert 0.08 < shares["unsubscribed"] < 0.25
    assert 0.005 < shares["cleaned"] < 0.05
    assert 0 < shares["pending"] < 0.03
    assert 0 < shares["archived"] < 0.05


def test_every_opt_in_carries_its_evidence(members: list[dict[str, Any]]) -> None:
    """Every subscribed member has timestamp_opt; form opt-ins have ip_opt, imports do not;
    double opt-ins signed up before they confirmed."""
    subscribed = [m for m in members if m["status"] == "subscribed"]
    assert all(m["timestamp_opt"] for m in subscribed)
    assert all(m["timestamp_opt"] <= m["last_changed"] for m in subscribed)
    by_source = Counter(m["source"] for m in subscribed)
    assert set(by_source) == {"Hosted Signup Form", "Embedded Form", "Import"}
    for member in subscribed:
        if member["source"] == "Import":
            assert member["ip_opt"] == ""
        else:
            assert member["ip_opt"]
        if member["source"] == "Hosted Signup Form":
            assert member["timestamp_signup"] < member["timestamp_opt"]
    never = [m for m in members if m["status"] == "transactional"]
    assert not any(m["timestamp_opt"] for m in never)
    email_permission = [
        p["enabled"] for m in subscribed for p in m["marketing_permissions"] if p["text"] == "Email"
    ]
    assert 0.8 < sum(email_permission) / len(email_permission) <= 1.0
    assert not any(p["enabled"] for m in never for p in m["marketing_permissions"])


def test_unsubscribes_say_who_and_why(members: list[dict[str, Any]]) -> None:
    """Unsubscribed members carry a reason: mostly the person's own, some an admin's."""
    reasons = Counter(m["unsubscribe_reason"] for m in members if m["status"] == "unsubscribed")
    admin = reasons.pop("N/A (Unsubscribed by an admin)")
    assert sum(reasons.values()) > 3 * admin > 0
    assert "I no longer want to receive these emails" in reasons
    assert not any("unsubscribe_reason" in m for m in members if m["status"] != "unsubscribed")


def test_shared_people_have_the_other_systems_emails(members: list[dict[str, Any]]) -> None:
    """The first overlap share are Salesforce's people (same address, a capital now and then);
    the audience's own people have addresses nobody else holds."""
    held = {m["email_address"].lower() for m in members}
    salesforce = list(iter_people("salesforce", CONTACTS, SEED, 0.8))
    shared = {p.email.lower() for p in salesforce if p.shared}
    own = {p.email.lower() for p in salesforce if not p.shared}
    assert shared <= held
    assert not own & held
    assert sum(".mc@" in e for e in held) == len(own)
    assert any(m["email_address"][0].isupper() for m in members)


def test_seeding_is_deterministic() -> None:
    """The same seed gives the same audience, member for member."""

    def audience() -> list[tuple[str, str, str | None, str, int]]:
        store = MemberStore()
        try:
            store.seed(mailchimp_people(200, SEED, 0.8), 200)
            _, seeded = store.query(MemberQuery(), 1000, 0)
        finally:
            store.close()
        return [(m.email, m.status, m.unsubscribe_reason, m.ip_opt, m.permissions) for m in seeded]

    first = audience()
    assert len(first) == 200
    assert first == audience()
