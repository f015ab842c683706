"""The Consent API (`consent/action/email`) through simple-salesforce: least permissive wins."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest, format_soql

from consent_sync_sandbox.salesforce import build_salesforce
from support.salesforce_emulator import Served, serve

_serial = itertools.count()


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """300 seeded people, a third of them also a Lead."""
    running = serve(build_salesforce(300, seed=11, lead_share=0.3), tmp_path_factory.mktemp("c"))
    yield running
    running.stop()


@pytest.fixture
def api(org: Served) -> Salesforce:
    return org.client()


@pytest.fixture
def acts(org: Served) -> Iterator[httpx.Client]:
    with org.control() as client:
        yield client


def _consent(sf: Salesforce, ids: list[str], action: str = "email", **params: str) -> Any:
    return sf.restful(f"consent/action/{action}", params={"ids": ",".join(ids), **params})


def _proceed(sf: Salesforce, email: str, **params: str) -> str:
    return str(_consent(sf, [email], **params)[email]["proceed"]["email"])


def _person(acts: httpx.Client, sobject: str = "Contact", **fields: Any) -> str:
    """A new person (an email nobody else has) as a Contact, or a Lead with `sobject`."""
    email = fields.pop("Email", None) or f"consent.api.{next(_serial)}@x.com"
    made = acts.post(
        "/_sandbox/act",
        json={
            "action": "create",
            "sobject": sobject,
            "fields": {"LastName": "Api", "Email": email, **fields},
        },
    )
    made.raise_for_status()
    return str(email)


def _record(acts: httpx.Client, email: str, **act: Any) -> dict[str, Any]:
    response = acts.post("/_sandbox/consent", json={"email": email, **act})
    response.raise_for_status()
    return dict(response.json())


def test_nobody_objected_proceeds_and_a_denial_anywhere_does_not(
    api: Salesforce, acts: httpx.Client
) -> None:
    """Unticked box, no records: true. An OptOut record, though the box is unticked: false."""
    email = _person(acts)
    answer = _consent(api, [email])[email]
    assert answer == {"result": "Success", "proceed": {"email": "true", "emailResult": "Success"}}
    _record(acts, email, status="OptOut")
    assert _proceed(api, email) == "false"


def test_contact_and_lead_least_permissive(api: Salesforce, acts: httpx.Client) -> None:
    """A Contact not opted out and a Lead opted out (or the other way round) means no."""
    lead_ticked = _person(acts)
    _person(acts, "Lead", Email=lead_ticked, HasOptedOutOfEmail=True)
    contact_ticked = _person(acts, HasOptedOutOfEmail=True)
    _person(acts, "Lead", Email=contact_ticked)
    both_unticked = _person(acts)
    _person(acts, "Lead", Email=both_unticked)
    answers = _consent(api, [lead_ticked, contact_ticked, both_unticked], verbose="true")
    assert [
        answers[e]["proceed"]["email"] for e in (lead_ticked, contact_ticked, both_unticked)
    ] == [
        "false",
        "false",
        "true",
    ]
    consulted = {(x["objectConsulted"], x["value"]) for x in answers[lead_ticked]["explanation"]}
    assert consulted == {("Contact", "false"), ("Lead", "true")}


def test_a_lapsed_decision_is_no_consent(api: Salesforce, acts: httpx.Client) -> None:
    """An OptIn whose EffectiveTo has passed no longer lets one proceed; inside its window it
    does, and before its EffectiveFrom it is not consulted yet."""
    email = _person(acts)
    captured = datetime.now(UTC) - timedelta(days=60)
    ended = datetime.now(UTC) - timedelta(days=1)
    window = {"captured_at": captured.isoformat(), "effective_to": ended.isoformat()}
    _record(acts, email, status="OptIn", **window)
    strict = {"policy": "requireExplicitConsent"}
    assert _proceed(api, email) == "false"
    inside = (ended - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _proceed(api, email, datetime=inside, **strict) == "true"
    before = (captured - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _proceed(api, email, datetime=before) == "true"
    assert _consent(api, [email], datetime=before, **strict)[email]["proceed"]["emailResult"] == (
        "infoNotFound"
    )


def test_purpose_narrows_the_records_consulted(api: Salesforce, acts: httpx.Client) -> None:
    """An opt-out of Product Updates denies that purpose, and any-purpose, but not Email
    Marketing."""
    email = _person(acts)
    _record(acts, email, purpose="Product Updates", status="OptOut")
    assert _proceed(api, email, purpose="Product Updates") == "false"
    assert _proceed(api, email, purpose="Email Marketing") == "true"
    assert _proceed(api, email) == "false"


def test_require_explicit_consent_needs_an_opt_in(api: Salesforce, acts: httpx.Client) -> None:
    """policy=requireExplicitConsent: no record is infoNotFound; an OptIn in force is true."""
    email = _person(acts)
    strict = {"policy": "requireExplicitConsent", "purpose": "Email Marketing"}
    assert _consent(api, [email], **strict)[email]["proceed"] == {
        "email": "false",
        "emailResult": "infoNotFound",
    }
    _record(acts, email, status="OptIn", capture_source="Web Form")
    assert _proceed(api, email, **strict) == "true"
    assert (
        _proceed(api, email, policy="requireExplicitConsent", purpose="Product Updates") == "false"
    )
    _person(acts, "Lead", Email=email, HasOptedOutOfEmail=True)
    assert _proceed(api, email, **strict) == "false"


def test_a_record_id_answers_for_its_email(api: Salesforce, acts: httpx.Client) -> None:
    """A Contact id is answered for every record with that Contact's email."""
    email = _person(acts)
    _person(acts, "Lead", Email=email, HasOptedOutOfEmail=True)
    contact_id = api.query(format_soql("SELECT Id FROM Contact WHERE Email = {}", email))[
        "records"
    ][0]["Id"]
    assert _consent(api, [contact_id])[contact_id]["proceed"]["email"] == "false"


def test_unknown_and_invalid_ids(api: Salesforce) -> None:
    """An email nobody has is INFO_NOT_FOUND; a string that is no id is INVALID_ID."""
    answers = _consent(api, ["nobody.at.all@x.com", "not-an-id"])
    assert answers["nobody.at.all@x.com"]["result"] == "INFO_NOT_FOUND"
    assert answers["nobody.at.all@x.com"]["proceed"]["email"] == "false"
    assert answers["not-an-id"]["result"] == "INVALID_ID"


def test_aggregated_consent_is_false_if_any_id_is(api: Salesforce, acts: httpx.Client) -> None:
    """aggregatedConsent=true gives one answer: false as soon as one id's is false."""
    yes, also_yes, no = _person(acts), _person(acts), _person(acts, HasOptedOutOfEmail=True)
    mixed = _consent(api, [yes, no], aggregatedConsent="true")
    assert list(mixed) == [f"{yes},{no}"]
    assert mixed[f"{yes},{no}"]["proceed"]["email"] == "false"
    agreed = _consent(api, [yes, also_yes], aggregatedConsent="")
    assert agreed[f"{yes},{also_yes}"]["proceed"] == {"email": "true", "emailResult": "Success"}


def test_phone_consults_do_not_call_and_phone_records(api: Salesforce, acts: httpx.Client) -> None:
    """The phone action reads DoNotCall and Phone-channel records, not the email box."""
    email = _person(acts, HasOptedOutOfEmail=True)
    answer = _consent(api, [email], "phone")[email]
    assert answer["proceed"] == {"phone": "true", "phoneResult": "Success"}
    _record(acts, email, channel="Phone", purpose="SMS Marketing", status="OptOut")
    assert _consent(api, [email], "phone")[email]["proceed"]["phone"] == "false"


def test_bad_requests_use_the_error_envelope(api: Salesforce) -> None:
    """A bad datetime is a 400 error list; an action the API lacks is 404 NOT_FOUND."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        _consent(api, ["a@x.com"], datetime="yesterday")
    assert caught.value.content[0]["errorCode"] == "INVALID_PARAMETER_VALUE"
    response = api.session.get(
        f"{api.base_url}consent/action/teleport", params={"ids": "a@x.com"}, headers=api.headers
    )
    assert response.status_code == 404
    assert response.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def _expected(sf: Salesforce, emails: list[str], now: str) -> dict[str, tuple[bool, bool]]:
    """(denied, explicitly opted in) per email, read back through SOQL alone."""
    people: dict[str, list[dict[str, Any]]] = {}
    for sobject in ("Contact", "Lead"):
        query = format_soql(
            f"SELECT Email, HasOptedOutOfEmail, IndividualId FROM {sobject} WHERE Email IN {{}}",  # noqa: S608
            emails,
        )
        for row in sf.query_all(query)["records"]:
            people.setdefault(row["Email"].lower(), []).append(row)
    parties = sorted(
        {r["IndividualId"] for rows in people.values() for r in rows if r["IndividualId"]}
    )
    records: dict[str, list[dict[str, Any]]] = {}
    for at in range(0, len(parties), 100):
        query = format_soql(
            "SELECT PartyId, PrivacyConsentStatus, EffectiveFrom, EffectiveTo "
            "FROM ContactPointTypeConsent WHERE PartyId IN {} AND ContactPointType = 'Email' "
            "AND DataUsePurpose.Name = 'Email Marketing'",
            parties[at : at + 100],
        )
        for row in sf.query_all(query)["records"]:
            records.setdefault(row["PartyId"], []).append(row)
    expected = {}
    for email in emails:
        rows = people[email.lower()]
        decided = [
            (c["PrivacyConsentStatus"], c["EffectiveTo"] is not None and c["EffectiveTo"] <= now)
            for party in {r["IndividualId"] for r in rows if r["IndividualId"]}
            for c in records.get(party, [])
            if (c["EffectiveFrom"] or "") <= now
            and c["PrivacyConsentStatus"] in ("OptIn", "OptOut")
        ]
        denied = any(r["HasOptedOutOfEmail"] for r in rows) or any(
            status == "OptOut" or lapsed for status, lapsed in decided
        )
        granted = any(status == "OptIn" and not lapsed for status, lapsed in decided)
        expected[email] = (denied, granted)
    return expected


def test_two_hundred_seeded_people_match_their_records(api: Salesforce) -> None:
    """For 200 seeded people the API's answer is the least permissive of their Contact, Lead
    and Email Marketing records (a lapsed one a no), read back through SOQL."""
    emails = [
        r["Email"] for r in api.query("SELECT Email FROM Contact ORDER BY Id LIMIT 200")["records"]
    ]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    expected = _expected(api, emails, now)
    at = {"purpose": "Email Marketing", "datetime": now.replace("+0000", "Z")}
    plain = _consent(api, emails, **at)
    strict = _consent(api, emails, policy="requireExplicitConsent", **at)
    for email in emails:
        denied, opted_in = expected[email]
        assert plain[email]["proceed"]["email"] == ("false" if denied else "true"), email
        wanted = "true" if opted_in and not denied else "false"
        assert strict[email]["proceed"]["email"] == wanted, email
    outcomes = {(d, o) for d, o in expected.values()}
    assert {(True, False), (False, False)} <= outcomes  # denials and never-asked both occur
    assert any(o for _, o in expected.values())  # and some explicit opt-ins
