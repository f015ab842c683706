"""`POST /_sandbox/consent`: a person or a rep records consent the way the org's UI does."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
from simple_salesforce import Salesforce, format_soql

_serial = itertools.count()


def _person(control: httpx.Client, sobject: str = "Contact", email: str | None = None) -> str:
    email = email or f"acts.{next(_serial)}@x.com"
    control.post(
        "/_sandbox/act",
        json={
            "action": "create",
            "sobject": sobject,
            "fields": {"LastName": "Acts", "Email": email},
        },
    ).raise_for_status()
    return email


def _act(control: httpx.Client, email: str, **fields: Any) -> httpx.Response:
    return control.post("/_sandbox/consent", json={"email": email, **fields})


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def test_first_consent_creates_and_links_an_individual(
    sf: Salesforce, control: httpx.Client
) -> None:
    """A person without an Individual gets one; their Contact and Lead are linked to it and the
    consent record holds the decision with CaptureDate now."""
    email = _person(control)
    _person(control, "Lead", email)
    before = _stamp(datetime.now(UTC))
    made = _act(control, email, status="OptOut", capture_source="Unsubscribe Link").json()
    assert made["created_individual"] is True
    (individual,) = made["individual_ids"]
    for sobject in ("Contact", "Lead"):
        query = format_soql(f"SELECT IndividualId FROM {sobject} WHERE Email = {{}}", email)  # noqa: S608
        assert [r["IndividualId"] for r in sf.query(query)["records"]] == [individual]
    (record,) = sf.query(
        format_soql(
            "SELECT Id, Party.Name, DataUsePurpose.Name, ContactPointType, PrivacyConsentStatus, "
            "CaptureDate, CaptureSource, EffectiveFrom, EffectiveTo, SystemModstamp "
            "FROM ContactPointTypeConsent "
            "WHERE PartyId = {}",
            individual,
        )
    )["records"]
    assert record["Id"] == made["ids"][0]
    assert (record["DataUsePurpose"]["Name"], record["ContactPointType"]) == (
        "Email Marketing",
        "Email",
    )
    assert (record["PrivacyConsentStatus"], record["CaptureSource"]) == (
        "OptOut",
        "Unsubscribe Link",
    )
    assert before <= record["CaptureDate"] == record["SystemModstamp"]  # captured as written
    assert record["EffectiveFrom"] == record["CaptureDate"]
    assert record["EffectiveTo"] is None
    assert record["Party"]["Name"] == "Acts"


def test_a_later_decision_updates_the_same_record(sf: Salesforce, control: httpx.Client) -> None:
    """Changing one's mind updates the purpose's record (no second one) and bumps its stamp."""
    email = _person(control)
    first = _act(control, email, status="OptIn", capture_source="Web Form", double_opt_in=True)
    second = _act(control, email, status="OptOut", capture_source="Sales Call").json()
    assert second["created_individual"] is False
    assert second["ids"] == first.json()["ids"]
    record = sf.ContactPointTypeConsent.get(second["ids"][0])
    assert (record["PrivacyConsentStatus"], record["CaptureSource"]) == ("OptOut", "Sales Call")
    assert record["DoubleConsentCaptureDate"] is None
    assert record["SystemModstamp"] > first.json()["records"][0]["SystemModstamp"]
    other = _act(control, email, purpose="Product Updates", status="OptIn").json()
    assert other["ids"] != second["ids"]


def test_a_decision_can_commit_at_an_exact_stamp(sf: Salesforce, control: httpx.Client) -> None:
    """stamp_at sets the record's SystemModstamp; captured_at and effective_to set its window."""
    email = _person(control)
    made = _act(
        control,
        email,
        status="OptIn",
        stamp_at="2026-11-30T12:00:00.250Z",
        captured_at="2026-01-15T09:00:00Z",
        effective_to="2026-06-30T00:00:00Z",
    ).json()
    record = sf.ContactPointTypeConsent.get(made["ids"][0])
    assert record["SystemModstamp"] == "2026-11-30T12:00:00.250+0000"
    assert record["CaptureDate"] == record["EffectiveFrom"] == "2026-01-15T09:00:00.000+0000"
    assert record["EffectiveTo"] == "2026-06-30T00:00:00.000+0000"


def test_refusals_say_why(control: httpx.Client) -> None:
    """An unknown purpose is refused with its reason; an email nobody has is 404."""
    email = _person(control)
    unknown = _act(control, email, purpose="Carrier Pigeons")
    assert unknown.status_code == 422
    assert "Carrier Pigeons" in unknown.json()[0]["message"]
    assert _act(control, "nobody.here@x.com").status_code == 404
