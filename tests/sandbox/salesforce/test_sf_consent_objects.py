"""The consent data model through simple-salesforce: describe, relationship SOQL, writes."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest, format_soql

CPTC = "ContactPointTypeConsent"


def _collection(sf: Salesforce, method: str, **kwargs: Any) -> Any:
    return sf.restful("composite/sobjects", method=method, **kwargs)


def _purpose_id(sf: Salesforce, name: str) -> str:
    query = format_soql("SELECT Id FROM DataUsePurpose WHERE Name = {}", name)
    return str(sf.query(query)["records"][0]["Id"])


def _new_individual(sf: Salesforce, last_name: str) -> str:
    return str(sf.Individual.create({"FirstName": "Test", "LastName": last_name})["id"])


def _consent(party: str, purpose: str, status: str = "OptOut", **fields: Any) -> dict[str, Any]:
    return {
        "attributes": {"type": CPTC},
        "Name": "Email Marketing (Email)",
        "PartyId": party,
        "DataUsePurposeId": purpose,
        "ContactPointType": "Email",
        "PrivacyConsentStatus": status,
        **fields,
    }


def test_describe_reports_the_consent_fields(sf: Salesforce) -> None:
    """describe gives types, picklist values, lookups and writability as Salesforce does."""
    fields = {f["name"]: f for f in sf.ContactPointTypeConsent.describe()["fields"]}
    assert [v["value"] for v in fields["PrivacyConsentStatus"]["picklistValues"]] == [
        "NotSeen",
        "OptIn",
        "OptOut",
        "Seen",
    ]
    assert [v["value"] for v in fields["ContactPointType"]["picklistValues"]] == [
        "Email",
        "MailingAddress",
        "Phone",
        "Social",
        "Web",
    ]
    party = fields["PartyId"]
    assert (party["type"], party["referenceTo"], party["relationshipName"]) == (
        "reference",
        ["Individual"],
        "Party",
    )
    assert fields["CaptureDate"]["type"] == "datetime"
    assert fields["CaptureSource"]["length"] == 255
    assert fields["SystemModstamp"]["updateable"] is False
    individual = {f["name"]: f for f in sf.Individual.describe()["fields"]}
    assert individual["Name"]["createable"] is False
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["IndividualId"]["referenceTo"] == ["Individual"]
    assert contact["IndividualId"]["updateable"] is True
    names = {s["name"] for s in sf.describe()["sobjects"]}
    assert {
        "Individual",
        "DataUsePurpose",
        CPTC,
        "ContactPointEmail",
        "ContactPointConsent",
    } <= names


def test_relationship_fields_are_nested_and_filterable(sf: Salesforce) -> None:
    """`DataUsePurpose.Name` and `Party.Name` come back nested and filter in WHERE."""
    rows = sf.query_all(
        "SELECT Id, PartyId, Party.Name, DataUsePurpose.Name, PrivacyConsentStatus "
        "FROM ContactPointTypeConsent WHERE DataUsePurpose.Name = 'Email Marketing' "
        "ORDER BY Party.Name"
    )["records"]
    assert len(rows) > 100
    assert {r["DataUsePurpose"]["Name"] for r in rows} == {"Email Marketing"}
    assert rows[0]["DataUsePurpose"]["attributes"]["type"] == "DataUsePurpose"
    names = [r["Party"]["Name"] for r in rows]
    assert names == sorted(names, key=str.casefold)
    party = sf.Individual.get(rows[0]["PartyId"])
    assert rows[0]["Party"]["Name"] == " ".join(
        n for n in (party["FirstName"], party["LastName"]) if n
    )
    sms = sf.query(
        "SELECT COUNT() FROM ContactPointTypeConsent WHERE DataUsePurpose.Name = 'SMS Marketing'"
    )
    total = sf.query("SELECT COUNT() FROM ContactPointTypeConsent")
    assert 0 < sms["totalSize"] < total["totalSize"] - len(rows)


def test_an_empty_lookup_gives_a_null_relationship(sf: Salesforce) -> None:
    """A Contact without an Individual has `"Individual": null`; one with it has its Name."""
    without = sf.query("SELECT Id, Individual.Name FROM Contact WHERE IndividualId = null LIMIT 1")
    assert without["records"][0]["Individual"] is None
    with_one = sf.query(
        "SELECT Id, IndividualId, Individual.LastName FROM Contact WHERE IndividualId != null "
        "LIMIT 1"
    )["records"][0]
    assert (
        with_one["Individual"]["LastName"]
        == sf.Individual.get(with_one["IndividualId"])["LastName"]
    )


def test_unknown_relationship_is_invalid_field(sf: Salesforce) -> None:
    """A relationship the object lacks answers INVALID_FIELD as Salesforce words it."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id, Purpose.Name FROM ContactPointTypeConsent")
    (error,) = caught.value.content
    assert error["errorCode"] == "INVALID_FIELD"
    assert "Didn't understand relationship 'Purpose'" in error["message"]


def test_consent_records_page_with_next_records_url(sf: Salesforce) -> None:
    """query_all pages through every consent record at 200 a page, no duplicates."""
    small = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Id FROM ContactPointTypeConsent", headers=small)
    assert first["done"] is False and len(first["records"]) == 200
    every = sf.query_all("SELECT Id, SystemModstamp FROM ContactPointTypeConsent", headers=small)[
        "records"
    ]
    assert len(every) == first["totalSize"] == len({r["Id"] for r in every})


def test_create_update_and_delete_through_sobjects(sf: Salesforce) -> None:
    """POST, PATCH and DELETE on sobjects/ContactPointTypeConsent; stamps move on each."""
    party = _new_individual(sf, "Rowe")
    purpose = _purpose_id(sf, "Product Updates")
    body = _consent(party, purpose, "OptIn", CaptureDate="2026-11-30T12:00:00.000+0000")
    body.pop("attributes")
    created = sf.ContactPointTypeConsent.create(body)
    record = sf.ContactPointTypeConsent.get(created["id"])
    assert record["CaptureDate"] == "2026-11-30T12:00:00.000+0000"
    assert (record["PartyId"], record["DataUsePurposeId"]) == (party, purpose)
    update = {"PrivacyConsentStatus": "OptOut", "CaptureDate": "2026-12-01T08:30:00Z"}
    assert sf.ContactPointTypeConsent.update(created["id"], update) == 204
    changed = sf.ContactPointTypeConsent.get(created["id"])
    assert changed["PrivacyConsentStatus"] == "OptOut"
    assert changed["CaptureDate"] == "2026-12-01T08:30:00.000+0000"
    assert changed["SystemModstamp"] > record["SystemModstamp"]
    assert sf.ContactPointTypeConsent.delete(created["id"]) == 204
    query = format_soql(
        "SELECT Id, IsDeleted, SystemModstamp FROM ContactPointTypeConsent WHERE Id = {}",
        created["id"],
    )
    assert sf.query(query)["totalSize"] == 0
    (gone,) = sf.query_all(query, include_deleted=True)["records"]
    assert gone["IsDeleted"] is True
    assert gone["SystemModstamp"] > changed["SystemModstamp"]


def test_collection_create_reports_each_record(sf: Salesforce) -> None:
    """POST composite/sobjects, allOrNone false: valid records saved, the rest per-record errors."""
    party = _new_individual(sf, "Collins")
    purpose = _purpose_id(sf, "Email Marketing")
    missing_name = _consent(party, purpose)
    missing_name.pop("Name")
    results = _collection(
        sf,
        "POST",
        json={
            "allOrNone": False,
            "records": [
                _consent(party, purpose, CaptureSource="Preference Center"),
                _consent(party, purpose, "Maybe"),
                missing_name,
                _consent("0PKDn0000ZZZZZZ", purpose),
                _consent(party, "003Dn0000000001"),
            ],
        },
    )
    assert results[0]["success"] is True and results[0]["id"].startswith("0ZY")
    assert [r["success"] for r in results] == [True, False, False, False, False]
    assert "id" not in results[1]
    assert results[1]["errors"] == [
        {
            "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "message": "Privacy Consent Status: bad value for restricted picklist field: Maybe",
            "fields": ["PrivacyConsentStatus"],
        }
    ]
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[2]["errors"][0]["fields"] == ["Name"]
    assert results[3]["errors"] == [
        {
            "statusCode": "INVALID_CROSS_REFERENCE_KEY",
            "message": "invalid cross reference id",
            "fields": [],
        }
    ]
    assert results[4]["errors"][0]["statusCode"] == "FIELD_INTEGRITY_EXCEPTION"
    saved = sf.query(
        format_soql(
            "SELECT Id, CaptureSource FROM ContactPointTypeConsent WHERE PartyId = {}", party
        )
    )
    assert [(r["Id"], r["CaptureSource"]) for r in saved["records"]] == [
        (results[0]["id"], "Preference Center")
    ]


def test_collection_create_all_or_none_saves_nothing(sf: Salesforce) -> None:
    """allOrNone true: one bad record rolls the whole create back."""
    party = _new_individual(sf, "Nash")
    purpose = _purpose_id(sf, "Email Marketing")
    results = _collection(
        sf,
        "POST",
        json={
            "allOrNone": True,
            "records": [_consent(party, purpose), _consent(party, purpose, "No")],
        },
    )
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    query = format_soql("SELECT COUNT() FROM ContactPointTypeConsent WHERE PartyId = {}", party)
    assert sf.query(query)["totalSize"] == 0


def test_collection_update_and_delete(sf: Salesforce) -> None:
    """PATCH composite/sobjects updates by id; DELETE ?ids= deletes, reporting unknown ids."""
    party = _new_individual(sf, "Okafor")
    purpose = _purpose_id(sf, "Email Marketing")
    (made,) = _collection(sf, "POST", json={"records": [_consent(party, purpose, "OptIn")]})
    updated = _collection(
        sf,
        "PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": CPTC}, "id": made["id"], "PrivacyConsentStatus": "OptOut"},
                {"attributes": {"type": CPTC}, "id": made["id"], "PartyId": "0PKDn0000ZZZZZZ"},
            ],
        },
    )
    assert [r["success"] for r in updated] == [True, False]
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert sf.ContactPointTypeConsent.get(made["id"])["PrivacyConsentStatus"] == "OptOut"
    deleted = _collection(sf, "DELETE", params={"ids": f"{made['id']},0ZYDn0000ZZZZZZ"})
    assert deleted[0] == {"id": made["id"], "success": True, "errors": []}
    assert deleted[1]["success"] is False
    again = _collection(sf, "DELETE", params={"ids": made["id"]})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_a_lookup_to_a_deleted_record_is_refused_and_resolves_to_null(sf: Salesforce) -> None:
    """Writing a lookup to a deleted Individual fails; query shows its relationship as null."""
    party = _new_individual(sf, "Ghost")
    purpose = _purpose_id(sf, "Email Marketing")
    (made,) = _collection(sf, "POST", json={"records": [_consent(party, purpose)]})
    sf.Individual.delete(party)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.ContactPointTypeConsent.update(made["id"], {"PartyId": party})
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    row = sf.query(
        format_soql(
            "SELECT PartyId, Party.Name FROM ContactPointTypeConsent WHERE Id = {}", made["id"]
        )
    )
    assert row["records"][0]["PartyId"] == party
    assert row["records"][0]["Party"] is None


def test_individual_name_follows_first_and_last_name(sf: Salesforce) -> None:
    """Individual.Name is the org's: kept from FirstName and LastName, refused as a write."""
    individual = _new_individual(sf, "Lamarr")
    sf.Individual.update(individual, {"FirstName": "Hedy"})
    assert sf.Individual.get(individual)["Name"] == "Hedy Lamarr"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Individual.update(individual, {"Name": "Someone Else"})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_a_datetime_that_is_no_datetime_fails_the_request(sf: Salesforce) -> None:
    """CaptureDate must be a datetime; anything else is a 400 JSON_PARSER_ERROR."""
    party = _new_individual(sf, "Clock")
    body = _consent(party, _purpose_id(sf, "Email Marketing"), CaptureDate="yesterday")
    body.pop("attributes")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.ContactPointTypeConsent.create(body)
    assert caught.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_contact_individual_lookup_is_writable(sf: Salesforce, control: httpx.Client) -> None:
    """Contact.IndividualId can be set through the API; WHERE on it finds the Contact."""
    contact = sf.Contact.create({"LastName": "Linked", "Email": "linked.person@x.com"})["id"]
    individual = _new_individual(sf, "Linked")
    sf.Contact.update(contact, {"IndividualId": individual})
    found = sf.query(
        format_soql("SELECT Id, Individual.Name FROM Contact WHERE IndividualId = {}", individual)
    )
    assert [(r["Id"], r["Individual"]["Name"]) for r in found["records"]] == [
        (contact, "Test Linked")
    ]
    (record,) = control.get(
        "/_sandbox/records", params={"sobject": "Contact", "id": contact}
    ).json()
    assert record["IndividualId"] == individual


def test_bulk2_query_carries_relationship_columns(sf: Salesforce) -> None:
    """A Bulk API 2.0 job returns `DataUsePurpose.Name` as a CSV column, same rows as REST."""
    soql = (
        "SELECT Id, PartyId, DataUsePurpose.Name, PrivacyConsentStatus "
        "FROM ContactPointTypeConsent WHERE DataUsePurpose.Name = 'SMS Marketing' ORDER BY Id"
    )
    rest = sf.query_all(soql)["records"]
    bulk = [
        row
        for page in sf.bulk2.ContactPointTypeConsent.query(soql, wait=1)
        for row in csv.DictReader(io.StringIO(page))
    ]
    assert [(r["Id"], r["DataUsePurpose.Name"]) for r in bulk] == [
        (r["Id"], r["DataUsePurpose"]["Name"]) for r in rest
    ]
    assert len(bulk) > 0
