"""The seeded people both emulators share: realistic proportions, determinism, overlap."""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest

from consent_sync_sandbox.seed import (
    DISAGREE_SHARE,
    OPTED_OUT_OF_ALL_SHARE,
    SUBSCRIBED_SHARE,
    UNSUBSCRIBED_SHARE,
    SeedPerson,
    iter_people,
    shared_count,
)

N = 5000
SEED = 7


def _people(system: str, seed: int = SEED, n: int = N) -> list[SeedPerson]:
    return list(iter_people(system, n, seed, 0.8))  # type: ignore[arg-type]


def _shares(values: list[object]) -> dict[object, float]:
    return {value: count / len(values) for value, count in Counter(values).items()}


def test_shares_are_named_and_leave_most_people_never_asked() -> None:
    """The named email shares leave about three quarters of people never asked."""
    never_asked = 1 - SUBSCRIBED_SHARE - UNSUBSCRIBED_SHARE - OPTED_OUT_OF_ALL_SHARE
    assert 0.7 <= never_asked <= 0.8


@pytest.mark.parametrize("system", ["salesforce", "hubspot"])
def test_email_facts_follow_realistic_shares(system: str) -> None:
    """Email: ~75% never asked, ~12% opted in, ~10% opted out, ~3% opted out of all."""
    shares = _shares([p.email_fact for p in _people(system)])
    assert 0.68 <= shares[None] <= 0.80
    assert 0.09 <= shares["opted_in"] <= 0.15
    # HubSpot also holds the unsubscribes Salesforce never heard of (the disagreements)
    assert 0.07 <= shares["opted_out"] <= 0.16
    assert 0.015 <= shares["opted_out_all"] <= 0.05


def test_salesforce_boxes_are_mostly_unticked_and_sms_mostly_never_asked() -> None:
    """Opt-out boxes are ticked for 8-15% of people; SMS_Consent__c is mostly null."""
    people = _people("salesforce")
    email_ticked = sum(not p.email_ok for p in people) / N
    calls_ticked = sum(not p.calls_ok for p in people) / N
    fax_ticked = sum(not p.fax_ok for p in people) / N
    for ticked in (email_ticked, calls_ticked, fax_ticked):
        assert 0.06 <= ticked <= 0.16
    sms = _shares([p.sms for p in people])
    assert sms[None] >= 0.85
    assert 0.02 <= sms["Opted In"] <= 0.09 and 0.02 <= sms["Opted Out"] <= 0.09


def test_same_seed_same_people_other_seed_other_people() -> None:
    """Seeding is deterministic for a seed and differs between seeds."""
    assert _people("hubspot", n=500) == _people("hubspot", n=500)
    assert _people("salesforce", n=500) != _people("salesforce", seed=SEED + 1, n=500)


def test_shared_people_agree_except_the_known_disagreements() -> None:
    """Shared people hold the same facts in both systems unless marked as disagreeing."""
    salesforce, hubspot = _people("salesforce"), _people("hubspot")
    shared = shared_count(N, 0.8)
    assert sum(p.shared for p in hubspot) == shared
    disagreeing = [i for i in range(shared) if hubspot[i].disagrees]
    assert 0.5 * DISAGREE_SHARE <= len(disagreeing) / shared <= 1.5 * DISAGREE_SHARE
    for i in range(shared):
        sf, hs = salesforce[i], hubspot[i]
        assert unicodedata.normalize("NFC", hs.email).casefold() == sf.email.casefold()
        if hs.disagrees:
            assert (sf.email_ok != hs.email_ok) != (sf.calls_ok != hs.calls_ok)  # one of them
        else:
            assert (sf.email_fact, sf.calls, sf.sms) == (hs.email_fact, hs.calls, hs.sms)
    assert not any(".hs@" in p.email for p in salesforce)
    assert all(".hs@" in p.email for p in hubspot[shared:])  # HubSpot's own people


def test_hostile_emails_are_still_seeded() -> None:
    """Quotes, plus-addressing and unicode addresses stay in the seed."""
    emails = [p.email for p in _people("salesforce", n=200)]
    assert any("'" in e for e in emails)
    assert any("+" in e for e in emails)
    assert any(not e.isascii() for e in emails)
