"""What a seeded org looks like through SOQL: opt-out boxes mostly unticked, SMS mostly null."""

from __future__ import annotations

import httpx
import pytest
from simple_salesforce import Salesforce

from support.salesforce_emulator import SEEDED


def _share(sf: Salesforce, where: str) -> float:
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    # `where` is a fixed condition from this module, never input
    query = f"SELECT COUNT() FROM Contact WHERE {where}"  # noqa: S608
    return int(sf.query(query)["totalSize"]) / total


def test_a_few_thousand_contacts_are_seeded(sf: Salesforce) -> None:
    """The shared org holds the few thousand seeded contacts the share checks run on."""
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] >= SEEDED >= 5000


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("HasOptedOutOfEmail", 0.08, 0.16),
        ("DoNotCall", 0.06, 0.14),
        ("HasOptedOutOfFax", 0.05, 0.11),
    ],
)
def test_opt_out_boxes_are_mostly_unticked(
    sf: Salesforce, field: str, low: float, high: float
) -> None:
    """Each opt-out checkbox is ticked for a minority (8-15%ish) and unticked for the rest."""
    ticked = _share(sf, f"{field} = true")
    assert low <= ticked <= high
    assert _share(sf, f"{field} = false") == pytest.approx(1 - ticked)


def test_sms_consent_is_mostly_never_asked(sf: Salesforce) -> None:
    """SMS_Consent__c is null for most contacts; a few say Opted In or Opted Out."""
    assert _share(sf, "SMS_Consent__c = null") >= 0.85
    assert 0.02 <= _share(sf, "SMS_Consent__c = 'Opted In'") <= 0.09
    assert 0.02 <= _share(sf, "SMS_Consent__c = 'Opted Out'") <= 0.09


def test_a_new_lead_starts_unticked_and_never_asked(sf: Salesforce, control: httpx.Client) -> None:
    """A Lead a rep creates holds Salesforce's defaults: boxes unticked, SMS_Consent__c null."""
    response = control.post(
        "/_sandbox/act",
        json={
            "action": "create",
            "sobject": "Lead",
            "fields": {"LastName": "Fresh", "Email": "fresh.lead@x.com"},
        },
    )
    assert response.status_code == 200, response.text
    lead = sf.Lead.get(response.json()["ids"][0])
    assert (lead["HasOptedOutOfEmail"], lead["DoNotCall"], lead["HasOptedOutOfFax"]) == (
        False,
        False,
        False,
    )
    assert lead["SMS_Consent__c"] is None
