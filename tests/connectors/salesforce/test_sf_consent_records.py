"""The Salesforce connector on the consent data model, against the emulator over HTTPS with
simple-salesforce: consent records pulled with their people found in batches, written as
Salesforce records a decision, and created for revocations written to Contacts
(docs/design.md, "Salesforce consent records")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import Any

import httpx
import pytest
from simple_salesforce import Salesforce
from simple_salesforce.format import format_soql

from consent_sync.connectors.salesforce.auth import SalesforceCredentials
from consent_sync.connectors.salesforce.composite import IDS_PER_QUERY, QUERIES_PER_CALL
from consent_sync.connectors.salesforce.connector import SalesforceConnector, SalesforceSettings
from consent_sync.connectors.salesforce.consent_model import PEOPLE_PER_QUERY
from consent_sync.connectors.salesforce.consent_records import (
    ConsentEntry,
    ConsentObject,
    sf_datetime,
)
from consent_sync.connectors.salesforce.implied_records import ImpliedRecord
from consent_sync.domain.records import Decided, FieldWrite, Record
from consent_sync_sandbox.salesforce import build_salesforce
from support.salesforce_emulator import Served, serve
from support.salesforce_org import FAST_RETRY

PEOPLE = 4000
EMAIL = ConsentEntry("Email Marketing", "Email", "Email Marketing/Email", "email_marketing")
SMS = ConsentEntry("SMS Marketing", "Phone", "SMS Marketing/Phone", "sms_marketing")
RECORDS = ConsentObject("ContactPointTypeConsent", (EMAIL, SMS))
PER_ADDRESS = ConsentObject("ContactPointConsent", (EMAIL,))
CONTACT_FIELDS = ("Email", "HasOptedOutOfEmail", "IndividualId")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An org of 4,000 people, a tenth of them also Leads; a third with an Individual."""
    served = serve(build_salesforce(PEOPLE, seed=7, lead_share=0.1), tmp_path_factory.mktemp("sf"))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def sf(org: Served) -> Salesforce:
    """simple-salesforce against the org: what a rep's tooling or a test uses to act."""
    return org.client()


@pytest.fixture
def control(org: Served) -> Iterator[httpx.Client]:
    with org.control() as client:
        client.delete("/_sandbox/garble").raise_for_status()
        yield client
        client.delete("/_sandbox/garble").raise_for_status()


def _connector(org: Served, **overrides: Any) -> SalesforceConnector:
    env = org.env
    creds = SalesforceCredentials(
        env["SALESFORCE_LOGIN_URL"],
        "client_credentials",
        env["SALESFORCE_CLIENT_ID"],
        env["SALESFORCE_CLIENT_SECRET"],
    )
    settings: dict[str, Any] = {
        "credentials": creds,
        "fields": {"Contact": CONTACT_FIELDS, "Lead": CONTACT_FIELDS},
        "consent": {"ContactPointTypeConsent": RECORDS, "ContactPointConsent": PER_ADDRESS},
        "implied": {"Contact": {"HasOptedOutOfEmail": ImpliedRecord(True, EMAIL)}},
        "ca_file": env["SALESFORCE_CA_FILE"],
        "retry": FAST_RETRY,
        "api_version": "62.0",
    }
    return SalesforceConnector(SalesforceSettings(**{**settings, **overrides}))


@pytest.fixture
def connector(org: Served) -> Iterator[SalesforceConnector]:
    made = _connector(org)
    yield made
    made.close()


def _all(connector: SalesforceConnector, object_type: str) -> list[Record]:
    return [r for page in connector.pull(object_type, None) for r in page.records]


def _purpose_ids(sf: Salesforce) -> dict[str, str]:
    rows = sf.query_all("SELECT Id, Name FROM DataUsePurpose")["records"]
    return {row["Name"]: row["Id"] for row in rows}


def _emails_by_individual(sf: Salesforce, people: str) -> dict[str, set[str]]:
    """Each Individual's emails on its Contacts or its Leads (`people`)."""
    out: dict[str, set[str]] = {}
    soql = f"SELECT IndividualId, Email FROM {people} WHERE IndividualId != null"  # noqa: S608
    for row in sf.query_all(soql)["records"]:
        if row["Email"] and row["Email"].strip():
            out.setdefault(row["IndividualId"], set()).add(row["Email"])
    return out


def test_a_full_read_finds_each_records_person_in_batches(
    connector: SalesforceConnector, sf: Salesforce
) -> None:
    """Every mapped consent record comes with its Individual's email, for a handful of calls:
    one for the purposes, one per 2,000 records, and per page one Composite call per five
    queries of 2,000 Individuals' Contacts, then as many for the Leads of those no Contact
    gave an email."""
    # A lead nobody converted yet, with an Individual and an opt-out of its own.
    individual = sf.Individual.create({"LastName": "Unconverted"})["id"]
    sf.Lead.create(
        {
            "LastName": "Unconverted",
            "Email": "lead.only@example.org",
            "IndividualId": individual,
        }
    )
    sf.ContactPointTypeConsent.create(
        {
            "Name": "Email Marketing (Email)",
            "PartyId": individual,
            "DataUsePurposeId": _purpose_ids(sf)["Email Marketing"],
            "ContactPointType": "Email",
            "PrivacyConsentStatus": "OptOut",
        }
    )
    before = connector.api_calls
    records = _all(connector, "ContactPointTypeConsent")
    calls = connector.api_calls - before
    purposes = _purpose_ids(sf)
    truth = sf.query_all(
        "SELECT Id, PartyId, DataUsePurposeId, ContactPointType FROM ContactPointTypeConsent"
    )["records"]
    mapped = {
        row["Id"]: row
        for row in truth
        if (row["DataUsePurposeId"], row["ContactPointType"])
        in {(purposes["Email Marketing"], "Email"), (purposes["SMS Marketing"], "Phone")}
    }
    assert {r.record_id for r in records} == set(mapped)  # Product Updates is never read
    contacts, leads = _emails_by_individual(sf, "Contact"), _emails_by_individual(sf, "Lead")
    for record in records:
        party = mapped[record.record_id]["PartyId"]
        # A Contact's email wins over a Lead's; a Lead's counts only where no Contact has one.
        assert record.fields["Email"] in (contacts.get(party) or leads[party])
    parties = {row["PartyId"] for row in mapped.values()}
    lead_only = parties - contacts.keys()
    assert len(records) <= 2000  # one page: its Individuals are resolved together
    assert lead_only == {individual}  # the others are found through a Contact
    (unconverted,) = [r for r in records if mapped[r.record_id]["PartyId"] == individual]
    assert unconverted.fields["Email"] == "lead.only@example.org"
    resolving = ceil(ceil(len(parties) / PEOPLE_PER_QUERY) / QUERIES_PER_CALL) + ceil(
        ceil(len(lead_only) / PEOPLE_PER_QUERY) / QUERIES_PER_CALL
    )
    assert calls == 1 + ceil(len(records) / 2000) + resolving
    assert len(parties) > 200  # what took three pairs of REST queries before Composite


def test_records_read_as_their_state_with_capture_date_and_evidence(
    connector: SalesforceConnector,
) -> None:
    """OptIn, OptOut, an expired opt-in, a notice merely seen: each as the table reads it,
    decided at CaptureDate (an expired opt-in at its EffectiveTo), CaptureSource as evidence."""
    records = _all(connector, "ContactPointTypeConsent")
    states = {r.fields.get("Email Marketing/Email") for r in records} - {None}
    assert {"OptIn", "OptOut", "Expired", "Seen"} <= states
    opted_in = next(r for r in records if r.fields.get("Email Marketing/Email") == "OptIn")
    evidence = opted_in.field_evidence["Email Marketing/Email"]
    assert evidence["privacy_consent_status"] == "OptIn"
    assert evidence["collection_method"]  # the seed's CaptureSource: Web Form, Trade Show...
    assert opted_in.field_times["Email Marketing/Email"] <= opted_in.modified_at
    expired = next(r for r in records if r.fields.get("Email Marketing/Email") == "Expired")
    lapsed = expired.field_evidence["Email Marketing/Email"]
    assert datetime.fromisoformat(lapsed["effective_to"]) <= datetime.now(UTC)
    if lapsed["privacy_consent_status"] == "OptIn":
        assert expired.field_times["Email Marketing/Email"].isoformat() == lapsed["effective_to"]


def test_an_opt_out_created_through_simple_salesforce_is_the_next_incremental_pull(
    connector: SalesforceConnector, sf: Salesforce
) -> None:
    """A rep records an OptOut: the next pull from the cursor returns it, with its person."""
    _all(connector, "ContactPointTypeConsent")
    since = datetime.now(UTC) - timedelta(seconds=1)
    contact = sf.query(
        "SELECT Id, Email, IndividualId FROM Contact WHERE IndividualId != null LIMIT 1"
    )["records"][0]
    captured = datetime.now(UTC).replace(microsecond=0)
    created = sf.ContactPointTypeConsent.create(
        {
            "Name": "Email Marketing (Email)",
            "PartyId": contact["IndividualId"],
            "DataUsePurposeId": _purpose_ids(sf)["Email Marketing"],
            "ContactPointType": "Email",
            "PrivacyConsentStatus": "OptOut",
            "CaptureDate": sf_datetime(captured),
            "CaptureSource": "Phone call",
        }
    )
    pulled = [r for p in connector.pull("ContactPointTypeConsent", since) for r in p.records]
    (record,) = [r for r in pulled if r.record_id == created["id"]]
    assert record.fields["Email Marketing/Email"] == "OptOut"
    assert record.fields["Email"] in _emails_by_individual(sf, "Contact")[contact["IndividualId"]]
    assert record.field_times["Email Marketing/Email"] == captured
    assert record.field_evidence["Email Marketing/Email"]["collection_method"] == "Phone call"
    before = connector.api_calls
    again = [r for p in connector.pull("ContactPointTypeConsent", since) for r in p.records]
    assert again == [] and connector.api_calls - before == 1  # idle: one call, nothing resolved


def test_a_date_that_will_not_parse_leaves_that_record_unread_not_the_page(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """A garbled CaptureDate is that record's unparseable field; its neighbours read on."""
    records = _all(connector, "ContactPointTypeConsent")
    victim = next(r for r in records if "Email Marketing/Email" in r.fields)
    control.put(
        "/_sandbox/garble", json={"id": victim.record_id, "fields": {"CaptureDate": "soon"}}
    ).raise_for_status()
    (read,) = connector.read("ContactPointTypeConsent", [victim.record_id])
    assert "Email Marketing/Email" not in read.fields
    problem = read.unreadable["Email Marketing/Email"]
    assert (problem.part, problem.raw) == ("CaptureDate", "soon")
    assert read.fields["Email"] == victim.fields["Email"]  # still linked by its person
    again = _all(connector, "ContactPointTypeConsent")
    assert sum(1 for r in again if r.unreadable) == 1
    assert len(again) == len(records)


def test_per_address_consent_is_found_by_its_contact_points_address(
    connector: SalesforceConnector, sf: Salesforce
) -> None:
    """A ContactPointConsent's person is its ContactPointEmail's address: one Composite call
    of five lookups per 5,000 addresses of a page."""
    before = connector.api_calls
    records = _all(connector, "ContactPointConsent")
    calls = connector.api_calls - before
    addresses = {
        row["Id"]: row["EmailAddress"]
        for row in sf.query_all("SELECT Id, EmailAddress FROM ContactPointEmail")["records"]
    }
    truth = {
        row["Id"]: row["ContactPointId"]
        for row in sf.query_all("SELECT Id, ContactPointId FROM ContactPointConsent")["records"]
    }
    assert records
    for record in records:
        assert record.fields["Email"] == addresses[truth[record.record_id]]
    points = {truth[r.record_id] for r in records}
    assert len(records) <= 2000  # one page
    queries = ceil(len(points) / IDS_PER_QUERY)
    assert calls == 1 + ceil(len(records) / 2000) + ceil(queries / QUERIES_PER_CALL)


def _opted_in(connector: SalesforceConnector) -> Record:
    return next(
        r
        for r in _all(connector, "ContactPointTypeConsent")
        if r.fields.get("Email Marketing/Email") == "OptIn"
    )


def test_a_revocation_is_written_as_salesforce_records_one(
    connector: SalesforceConnector, sf: Salesforce
) -> None:
    """OptOut, captured when and where it was decided, effective from now, no end; the
    record then reads back as a denial decided at that time."""
    target = _opted_in(connector)
    decided_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    write = FieldWrite(
        target.record_id,
        {"Email Marketing/Email": "OptOut"},
        decided={"Email Marketing/Email": Decided(decided_at, "hubspot")},
    )
    (result,) = connector.write("ContactPointTypeConsent", [write])
    assert result.ok, result
    held = sf.ContactPointTypeConsent.get(target.record_id)
    assert held["PrivacyConsentStatus"] == "OptOut"
    assert held["CaptureSource"] == "consent-sync (hubspot)"
    assert datetime.fromisoformat(held["CaptureDate"]) == decided_at
    assert held["EffectiveTo"] is None
    starts = datetime.fromisoformat(held["EffectiveFrom"])
    assert decided_at < starts <= datetime.now(UTC)
    (read,) = connector.read("ContactPointTypeConsent", [target.record_id])
    assert read.fields["Email Marketing/Email"] == "OptOut"
    assert read.field_times["Email Marketing/Email"] == decided_at


def test_an_opt_in_is_written_only_for_a_grant_with_a_legal_basis(
    connector: SalesforceConnector, sf: Salesforce
) -> None:
    """A grant without a basis is answered unrepresentable and nothing is sent; with one, the
    record is written OptIn."""
    target = next(
        r
        for r in _all(connector, "ContactPointTypeConsent")
        if r.fields.get("Email Marketing/Email") == "OptOut"
    )
    bare = FieldWrite(target.record_id, {"Email Marketing/Email": "OptIn"})
    (refused,) = connector.write("ContactPointTypeConsent", [bare])
    assert refused.unrepresentable and not refused.ok and "legal basis" in (refused.error or "")
    assert sf.ContactPointTypeConsent.get(target.record_id)["PrivacyConsentStatus"] == "OptOut"
    proven = FieldWrite(
        target.record_id,
        {"Email Marketing/Email": "OptIn"},
        legal_basis="consent",
        explanation="re-subscribed in the preference centre",
        decided={"Email Marketing/Email": Decided(datetime.now(UTC), "api:preferences")},
    )
    (written,) = connector.write("ContactPointTypeConsent", [proven])
    assert written.ok
    held = sf.ContactPointTypeConsent.get(target.record_id)
    assert held["PrivacyConsentStatus"] == "OptIn"
    assert held["CaptureSource"] == "consent-sync (api:preferences)"


def _contact(sf: Salesforce, *, with_individual: bool) -> dict[str, Any]:
    """A Contact not opted out whose Individual (if any) has no Email Marketing record."""
    email_marketing = _purpose_ids(sf)["Email Marketing"]
    recorded = {
        row["PartyId"]
        for row in sf.query_all(
            format_soql(
                "SELECT PartyId FROM ContactPointTypeConsent WHERE DataUsePurposeId = {id}",
                id=email_marketing,
            )
        )["records"]
    }
    where = "IndividualId != null" if with_individual else "IndividualId = null"
    soql = (
        f"SELECT Id, IndividualId, LastName FROM Contact WHERE {where} "  # noqa: S608
        "AND HasOptedOutOfEmail = false ORDER BY Id"
    )
    rows = sf.query_all(soql)["records"]
    return next(row for row in rows if row["IndividualId"] not in recorded)


def _records_of(sf: Salesforce, party: str) -> list[dict[str, Any]]:
    return list(
        sf.query_all(
            format_soql(
                "SELECT Id, PrivacyConsentStatus, CaptureDate, CaptureSource, ContactPointType, "
                "DataUsePurposeId FROM ContactPointTypeConsent WHERE PartyId = {party}",
                party=party,
            )
        )["records"]
    )


def test_a_revocation_written_to_a_contact_creates_the_consent_record_it_implies(
    connector: SalesforceConnector, sf: Salesforce
) -> None:
    """Ticking Email Opt Out for someone whose Individual has no Email Marketing record
    creates one, OptOut, captured when and where the revocation was decided; once."""
    contact = _contact(sf, with_individual=True)
    decided_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    write = FieldWrite(
        contact["Id"],
        {"HasOptedOutOfEmail": True},
        decided={"HasOptedOutOfEmail": Decided(decided_at, "hubspot")},
    )
    before = connector.api_calls
    (result,) = connector.write("Contact", [write])
    assert result.ok
    assert connector.api_calls - before <= 5  # the write; people, purposes, existing; create
    email_marketing = _purpose_ids(sf)["Email Marketing"]
    (created,) = [
        r
        for r in _records_of(sf, contact["IndividualId"])
        if r["DataUsePurposeId"] == email_marketing
    ]
    assert created["PrivacyConsentStatus"] == "OptOut" and created["ContactPointType"] == "Email"
    assert created["CaptureSource"] == "consent-sync (hubspot)"
    assert datetime.fromisoformat(created["CaptureDate"]) == decided_at
    assert connector.implied.created >= 1
    connector.write("Contact", [write])  # written again (a retry): no second record
    assert [
        r["Id"]
        for r in _records_of(sf, contact["IndividualId"])
        if r["DataUsePurposeId"] == email_marketing
    ] == [created["Id"]]


def test_no_individual_is_created_unless_the_mapping_says_so(
    org: Served, connector: SalesforceConnector, sf: Salesforce
) -> None:
    """Without create_individual the checkbox alone carries the revocation; with it, the
    Contact gets an Individual and that Individual its OptOut record."""
    contact = _contact(sf, with_individual=False)
    write = FieldWrite(contact["Id"], {"HasOptedOutOfEmail": True})
    (result,) = connector.write("Contact", [write])
    assert result.ok
    assert sf.Contact.get(contact["Id"])["IndividualId"] is None
    creating = _connector(
        org,
        consent={
            "ContactPointTypeConsent": ConsentObject(
                "ContactPointTypeConsent", (EMAIL, SMS), create_individual=True
            )
        },
    )
    try:
        (again,) = creating.write("Contact", [write])
        assert again.ok
        assert creating.implied.individuals_created == 1
    finally:
        creating.close()
    linked = sf.Contact.get(contact["Id"])["IndividualId"]
    assert linked is not None
    assert sf.Individual.get(linked)["LastName"] == contact["LastName"]
    (created,) = _records_of(sf, linked)
    assert created["PrivacyConsentStatus"] == "OptOut"
    assert created["CaptureSource"] == "consent-sync"  # nobody said where it was decided


def test_data_use_purposes_say_which_are_active(connector: SalesforceConnector) -> None:
    """The org's purposes for `validate --live`: the seed's inactive one is marked so."""
    purposes = connector.data_use_purposes()
    assert purposes["Email Marketing"] is True and purposes["SMS Marketing"] is True
    assert purposes["Partner Offers"] is False


def test_an_unknown_data_use_purpose_reads_nothing_without_failing(org: Served) -> None:
    """A mapping naming a purpose the org lacks reads no records (validate --live says why)."""
    ghost = ConsentEntry("Ghost Purpose", "Email", "Ghost Purpose/Email", "email_marketing")
    connector = _connector(
        org, consent={"ContactPointTypeConsent": ConsentObject("ContactPointTypeConsent", (ghost,))}
    )
    try:
        assert _all(connector, "ContactPointTypeConsent") == []
    finally:
        connector.close()


def test_a_large_full_read_runs_as_a_query_job_and_reads_the_same(org: Served) -> None:
    """Past bulk_threshold a full read of consent records is a Bulk API 2.0 job: same records,
    same states and people as the REST read."""
    rest = _connector(org)
    bulk = _connector(org, bulk_threshold=50)
    try:
        by_rest = {r.record_id: r for r in _all(rest, "ContactPointTypeConsent")}
        by_job = {r.record_id: r for r in _all(bulk, "ContactPointTypeConsent")}
    finally:
        rest.close()
        bulk.close()
    assert len(by_rest) > 50
    assert by_job.keys() == by_rest.keys()
    for record_id, record in by_rest.items():
        job = by_job[record_id]
        assert (job.fields, job.field_times, job.field_evidence) == (
            record.fields,
            record.field_times,
            record.field_evidence,
        )


def test_an_opt_in_whose_window_closed_without_a_change_is_read_again(
    org: Served, sf: Salesforce, control: httpx.Client
) -> None:
    """A record last changed an hour ago whose EffectiveTo passed a minute ago: the pull from
    the cursor cannot see it, the look at windows that closed does, and it reads Expired."""
    contact = sf.query(
        "SELECT IndividualId FROM Contact WHERE IndividualId != null ORDER BY Id DESC LIMIT 1"
    )["records"][0]
    now = datetime.now(UTC).replace(microsecond=0)
    created = control.post(
        "/_sandbox/act",
        json={
            "action": "create",
            "sobject": "ContactPointTypeConsent",
            "fields": {
                "Name": "SMS Marketing (Phone)",
                "PartyId": contact["IndividualId"],
                "DataUsePurposeId": _purpose_ids(sf)["SMS Marketing"],
                "ContactPointType": "Phone",
                "PrivacyConsentStatus": "OptIn",
                "CaptureDate": sf_datetime(now - timedelta(days=30)),
                "EffectiveTo": sf_datetime(now - timedelta(minutes=1)),
            },
            "stamp_at": (now - timedelta(hours=1)).isoformat(),
        },
    )
    created.raise_for_status()
    (record_id,) = created.json()["ids"]
    connector = _connector(org)
    try:
        since = now - timedelta(minutes=5)  # the cursor less the lookback: after its stamp
        pulled = [r for p in connector.pull("ContactPointTypeConsent", since) for r in p.records]
        (lapsed,) = [r for r in pulled if r.record_id == record_id]
        assert lapsed.fields["SMS Marketing/Phone"] == "Expired"
        assert lapsed.field_times["SMS Marketing/Phone"] == now - timedelta(minutes=1)
        before = connector.api_calls
        again = [r for p in connector.pull("ContactPointTypeConsent", since) for r in p.records]
        assert record_id not in {r.record_id for r in again}
        assert connector.api_calls - before == 1  # looked a moment ago: not again yet
    finally:
        connector.close()
