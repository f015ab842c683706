"""What a seeded org's consent data looks like: mostly never asked, evidenced opt-ins, messy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from simple_salesforce import Salesforce

from consent_sync_sandbox.common import Faults
from consent_sync_sandbox.salesforce import build_salesforce
from consent_sync_sandbox.salesforce.org import Org
from consent_sync_sandbox.salesforce.seeding import seed_org
from consent_sync_sandbox.salesforce.store import Store
from consent_sync_sandbox.seed import iter_people
from support.salesforce_emulator import Served, serve

NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
EMAIL_MARKETING = (
    "SELECT Id, PartyId, PrivacyConsentStatus, CaptureDate, CaptureSource, "
    "CaptureContactPointType, EffectiveFrom, EffectiveTo, DoubleConsentCaptureDate "
    "FROM ContactPointTypeConsent WHERE DataUsePurpose.Name = 'Email Marketing'"
)


def _count(sf: Salesforce, soql: str) -> int:
    return int(sf.query(soql)["totalSize"])


def _boxes(sf: Salesforce) -> dict[str, bool]:
    """Individual id -> whether its Contact has Email Opt Out ticked."""
    rows = sf.query_all(
        "SELECT IndividualId, HasOptedOutOfEmail FROM Contact WHERE IndividualId != null"
    )["records"]
    return {r["IndividualId"]: r["HasOptedOutOfEmail"] for r in rows}


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A freshly seeded org of its own (the shared one collects other tests' records), where a
    quarter of the people are also a Lead."""
    running = serve(build_salesforce(3000, seed=5, lead_share=0.25), tmp_path_factory.mktemp("s"))
    yield running
    running.stop()


@pytest.fixture
def sf(org: Served) -> Salesforce:
    return org.client()


def test_a_third_of_contacts_have_an_individual(sf: Salesforce) -> None:
    """About 35% of Contacts are linked to an Individual; the rest have none."""
    contacts = _count(sf, "SELECT COUNT() FROM Contact")
    linked = _count(sf, "SELECT COUNT() FROM Contact WHERE IndividualId != null")
    assert 0.30 <= linked / contacts <= 0.40
    assert _count(sf, "SELECT COUNT() FROM Individual") >= linked


def test_purposes_are_named_exactly_with_one_inactive(sf: Salesforce) -> None:
    """DataUsePurpose holds the three active purposes by name and one retired purpose."""
    rows = sf.query("SELECT Name, IsActive FROM DataUsePurpose ORDER BY Name")["records"]
    assert {r["Name"]: r["IsActive"] for r in rows} == {
        "Email Marketing": True,
        "Partner Offers": False,
        "Product Updates": True,
        "SMS Marketing": True,
    }


def test_most_people_were_never_asked(sf: Salesforce) -> None:
    """Only a minority of people have any consent record at all."""
    contacts = _count(sf, "SELECT COUNT() FROM Contact")
    parties = {
        r["PartyId"] for r in sf.query_all("SELECT PartyId FROM ContactPointTypeConsent")["records"]
    }
    assert 0.05 <= len(parties) / contacts <= 0.2


def test_opt_ins_carry_their_evidence(sf: Salesforce) -> None:
    """Every OptIn has a past CaptureDate, a CaptureSource and a capture channel; some were
    confirmed twice."""
    opt_ins = [
        r for r in sf.query_all(EMAIL_MARKETING)["records"] if r["PrivacyConsentStatus"] == "OptIn"
    ]
    assert len(opt_ins) > 50
    assert all(r["CaptureDate"] and r["CaptureDate"] < NOW for r in opt_ins)
    assert {r["CaptureSource"] for r in opt_ins} <= {
        "Web Form",
        "Trade Show",
        "Webinar Registration",
        "Checkout",
        "Sales Call",
    }
    assert all(r["CaptureContactPointType"] in ("Web", "Email", "Phone") for r in opt_ins)
    assert all(r["EffectiveFrom"] == r["CaptureDate"] for r in opt_ins)
    doubled = [r for r in opt_ins if r["DoubleConsentCaptureDate"]]
    assert 0.2 <= len(doubled) / len(opt_ins) <= 0.6
    assert all(r["DoubleConsentCaptureDate"] > r["CaptureDate"] for r in doubled)


def test_some_opt_ins_have_expired(sf: Salesforce) -> None:
    """A share of opt-ins ended in the past (EffectiveTo before now)."""
    opt_ins = [
        r for r in sf.query_all(EMAIL_MARKETING)["records"] if r["PrivacyConsentStatus"] == "OptIn"
    ]
    expired = [r for r in opt_ins if r["EffectiveTo"] and r["EffectiveTo"] < NOW]
    assert 0.07 <= len(expired) / len(opt_ins) <= 0.25
    assert all(r["EffectiveTo"] > r["CaptureDate"] for r in expired)


def test_some_records_disagree_with_the_contact_checkbox(sf: Salesforce) -> None:
    """Some people opted out in a record but not on the box, and some the other way round."""
    boxes = _boxes(sf)
    rows = sf.query_all(EMAIL_MARKETING)["records"]
    out_unticked = [
        r for r in rows if r["PrivacyConsentStatus"] == "OptOut" and not boxes[r["PartyId"]]
    ]
    in_ticked = [r for r in rows if r["PrivacyConsentStatus"] == "OptIn" and boxes[r["PartyId"]]]
    agreeing = [r for r in rows if r["PrivacyConsentStatus"] == "OptOut" and boxes[r["PartyId"]]]
    assert out_unticked and in_ticked
    assert len(agreeing) > len(out_unticked) + len(in_ticked)


def test_sms_consent_is_recorded_on_the_phone_channel(sf: Salesforce) -> None:
    """SMS Marketing records use ContactPointType Phone; email purposes use Email."""
    channels: dict[str, set[str]] = {}
    for row in sf.query_all(
        "SELECT ContactPointType, DataUsePurpose.Name FROM ContactPointTypeConsent"
    )["records"]:
        channels.setdefault(row["DataUsePurpose"]["Name"], set()).add(row["ContactPointType"])
    assert channels["SMS Marketing"] == {"Phone"}
    assert channels["Email Marketing"] == {"Email"}
    assert channels["Product Updates"] == {"Email"}


def test_contact_point_emails_belong_to_individuals(sf: Salesforce) -> None:
    """ContactPointEmail records carry the Contact's address under its Individual."""
    rows = sf.query("SELECT EmailAddress, ParentId FROM ContactPointEmail ORDER BY Id LIMIT 20")[
        "records"
    ]
    assert rows
    by_individual = {
        r["IndividualId"]: r["Email"]
        for r in sf.query_all("SELECT IndividualId, Email FROM Contact WHERE IndividualId != null")[
            "records"
        ]
    }
    assert all(by_individual[r["ParentId"]] == r["EmailAddress"] for r in rows)
    consents = sf.query(
        "SELECT ContactPoint.EmailAddress, PrivacyConsentStatus FROM ContactPointConsent"
    )
    assert consents["totalSize"] > 0
    assert all(r["ContactPoint"]["EmailAddress"] for r in consents["records"])


def test_leads_duplicate_some_people_and_sometimes_disagree(sf: Salesforce) -> None:
    """With lead_share, Leads carry Contacts' emails; some say otherwise about marketing email."""
    leads = sf.query_all("SELECT Email, HasOptedOutOfEmail, IndividualId FROM Lead")["records"]
    assert 0.2 <= len(leads) / 3000 <= 0.3
    contacts = {
        r["Email"]: r
        for r in sf.query_all("SELECT Email, HasOptedOutOfEmail, IndividualId FROM Contact")[
            "records"
        ]
    }
    assert all(lead["Email"] in contacts for lead in leads)
    differ = [
        lead
        for lead in leads
        if lead["HasOptedOutOfEmail"] != contacts[lead["Email"]]["HasOptedOutOfEmail"]
    ]
    assert 0 < len(differ) < len(leads)
    linked = [lead for lead in leads if lead["IndividualId"]]
    assert all(lead["IndividualId"] == contacts[lead["Email"]]["IndividualId"] for lead in linked)


def _consent_facts(seed: int) -> list[tuple[Any, ...]]:
    """The seeded consent records of a 300-person org, without their (relative) times."""
    org = Org(Store(), Faults())
    seed_org(org.store, iter_people("salesforce", 300, seed, 0.8), 300, seed=seed, lead_share=0.25)
    page = org.query(
        "SELECT Id, PartyId, DataUsePurpose.Name, PrivacyConsentStatus, CaptureSource, "
        "EffectiveTo FROM ContactPointTypeConsent ORDER BY Id",
        include_deleted=False,
        batch=2000,
        version="59.0",
    )
    return [
        (
            r["Id"],
            r["PartyId"],
            r["DataUsePurpose"]["Name"],
            r["PrivacyConsentStatus"],
            r["CaptureSource"],
            r["EffectiveTo"] is None,
        )
        for r in page["records"]
    ]


def test_the_same_seed_builds_the_same_consent_data() -> None:
    """Seeding is deterministic: the same seed gives the same records (times are relative)."""
    first = _consent_facts(5)
    assert first
    assert _consent_facts(5) == first
    assert _consent_facts(6) != first
