"""Record reads and writes through simple-salesforce: sObject rows, collections, describe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest, SalesforceResourceNotFound


def _create(control: httpx.Client, email: str, **fields: Any) -> str:
    made = control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": "Test", "Email": email, **fields}},
    )
    made.raise_for_status()
    return str(made.json()["ids"][0])


def _collection(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool) -> Any:
    return sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"allOrNone": all_or_none, "records": records},
    )


def _sandbox_record(control: httpx.Client, record_id: str) -> dict[str, Any]:
    (record,) = control.get("/_sandbox/records", params={"id": record_id}).json()
    return dict(record)


def test_get_returns_every_field_with_attributes(sf: Salesforce, control: httpx.Client) -> None:
    """GET sobjects/Contact/<id> returns attributes and the consent fields in API types."""
    record_id = _create(control, "get.me@x.com", SMS_Consent__c="Opted In", DoNotCall=True)
    record = sf.Contact.get(record_id)
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v59.0/sobjects/Contact/{record_id}",
    }
    assert record["Id"] == record_id
    assert record["Email"] == "get.me@x.com"
    assert record["DoNotCall"] is True
    assert record["HasOptedOutOfEmail"] is False
    assert record["SMS_Consent__c"] == "Opted In"
    assert record["SystemModstamp"].endswith("+0000")


def test_fifteen_character_ids_are_accepted(sf: Salesforce, control: httpx.Client) -> None:
    """The case-sensitive 15-character form of an id names the same record."""
    record_id = _create(control, "short.id@x.com")
    assert sf.Contact.get(record_id[:15])["Id"] == record_id


def test_unknown_record_is_not_found(sf: Salesforce) -> None:
    """A missing record answers 404 NOT_FOUND."""
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contact.get("003Dn000000ZZZZZZZ")
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"


def test_update_writes_and_bumps_stamps(sf: Salesforce, control: httpx.Client) -> None:
    """PATCH answers 204, stores the values and moves LastModifiedDate and SystemModstamp."""
    record_id = _create(control, "update.me@x.com")
    before = sf.Contact.get(record_id)
    assert sf.Contact.update(record_id, {"HasOptedOutOfEmail": True}) == 204
    after = sf.Contact.get(record_id)
    assert after["HasOptedOutOfEmail"] is True
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] == after["SystemModstamp"]
    assert after["CreatedDate"] == before["CreatedDate"]


def test_every_write_gets_a_strictly_later_stamp(sf: Salesforce, control: httpx.Client) -> None:
    """Writes in quick succession still get strictly increasing millisecond stamps."""
    ids = [_create(control, f"burst{i}@x.com") for i in range(3)]
    results = _collection(
        sf, [{"attributes": {"type": "Contact"}, "id": i, "DoNotCall": True} for i in ids], False
    )
    assert all(r["success"] for r in results)
    stamps = [sf.Contact.get(i)["SystemModstamp"] for i in ids]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 3


def test_create_and_delete(sf: Salesforce) -> None:
    """POST creates (201, SaveResult); DELETE soft-deletes (204), then GET is 404 deleted."""
    created = sf.Contact.create({"LastName": "New", "Email": "new.person@x.com"})
    assert created["success"] is True
    assert created["id"].startswith("003")
    assert created["errors"] == []
    assert sf.Contact.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contact.get(created["id"])
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_leads_use_their_own_prefix(sf: Salesforce) -> None:
    """Leads are a separate object with 00Q ids."""
    created = sf.Lead.create({"LastName": "Prospect", "Email": "lead@x.com"})
    assert created["id"].startswith("00Q")
    assert sf.Lead.get(created["id"])["attributes"]["type"] == "Lead"


def test_create_without_last_name_is_required_field_missing(sf: Salesforce) -> None:
    """Creating a Contact without LastName answers REQUIRED_FIELD_MISSING."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"Email": "nameless@x.com"})
    assert caught.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert caught.value.content[0]["fields"] == ["LastName"]


def test_bad_picklist_value_is_restricted_picklist_error(
    sf: Salesforce, control: httpx.Client
) -> None:
    """A value outside SMS_Consent__c's picklist is INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST."""
    record_id = _create(control, "picky@x.com")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.update(record_id, {"SMS_Consent__c": "Maybe"})
    (error,) = caught.value.content
    assert error["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert error["fields"] == ["SMS_Consent__c"]


def test_read_only_field_is_invalid_for_update(sf: Salesforce, control: httpx.Client) -> None:
    """Writing SystemModstamp answers INVALID_FIELD_FOR_INSERT_UPDATE naming the field."""
    record_id = _create(control, "readonly@x.com")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.update(record_id, {"SystemModstamp": "2020-01-01T00:00:00.000+0000"})
    (error,) = caught.value.content
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["fields"] == ["SystemModstamp"]


def test_collection_partial_failure_commits_the_valid_records(
    sf: Salesforce, control: httpx.Client
) -> None:
    """allOrNone=false: valid records are saved; failures come back per record, in order."""
    good, locked = _create(control, "good@x.com"), _create(control, "locked@x.com")
    bad_picklist = _create(control, "badpick@x.com")
    control.put("/_sandbox/faults", json={"batch_failure_ids": [locked]}).raise_for_status()
    results = _collection(
        sf,
        [
            {"attributes": {"type": "Contact"}, "id": good, "HasOptedOutOfEmail": True},
            {"attributes": {"type": "Contact"}, "id": locked, "HasOptedOutOfEmail": True},
            {"attributes": {"type": "Contact"}, "id": bad_picklist, "SMS_Consent__c": "Nope"},
            {"attributes": {"type": "Contact"}, "id": "003notanid", "DoNotCall": True},
        ],
        all_or_none=False,
    )
    assert results[0] == {"id": good, "success": True, "errors": []}
    assert [r["success"] for r in results] == [True, False, False, False]
    assert results[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert results[2]["errors"][0] == {
        "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "message": "SMS Consent: bad value for restricted picklist field: Nope",
        "fields": ["SMS_Consent__c"],
    }
    assert results[3]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert _sandbox_record(control, good)["HasOptedOutOfEmail"] is True
    assert _sandbox_record(control, locked)["HasOptedOutOfEmail"] is False


def test_collection_all_or_none_rolls_back_everything(
    sf: Salesforce, control: httpx.Client
) -> None:
    """allOrNone=true: one failure saves nothing; the others report ALL_OR_NONE rollback."""
    first, second = _create(control, "aon1@x.com"), _create(control, "aon2@x.com")
    stamp = _sandbox_record(control, first)["SystemModstamp"]
    results = _collection(
        sf,
        [
            {"attributes": {"type": "Contact"}, "id": first, "DoNotCall": True},
            {"attributes": {"type": "Contact"}, "id": second, "SMS_Consent__c": "Nope"},
        ],
        all_or_none=True,
    )
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    unchanged = _sandbox_record(control, first)
    assert unchanged["DoNotCall"] is False
    assert unchanged["SystemModstamp"] == stamp


def test_collection_over_200_records_is_refused(sf: Salesforce, control: httpx.Client) -> None:
    """More than 200 records in one collection request is a 400 EXCEEDED_ID_LIMIT."""
    record_id = _create(control, "many@x.com")
    records = [{"attributes": {"type": "Contact"}, "id": record_id, "DoNotCall": True}] * 201
    with pytest.raises(SalesforceMalformedRequest) as caught:
        _collection(sf, records, all_or_none=False)
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_describe_reports_types_and_writability(sf: Salesforce) -> None:
    """describe lists each field's type, updateable, nillable and picklist values."""
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert fields["HasOptedOutOfEmail"]["type"] == "boolean"
    assert fields["HasOptedOutOfEmail"]["updateable"] is True
    assert fields["SystemModstamp"]["updateable"] is False
    assert fields["Email"]["nillable"] is True
    assert [v["value"] for v in fields["SMS_Consent__c"]["picklistValues"]] == [
        "Opted In",
        "Opted Out",
    ]


def test_updated_and_deleted_list_changes_in_a_window(
    sf: Salesforce, control: httpx.Client
) -> None:
    """sobjects/Contact/updated and /deleted list the ids changed between start and end."""
    start = datetime.now(UTC) - timedelta(seconds=2)
    changed = _create(control, "window@x.com")
    removed = _create(control, "removed@x.com")
    control.post("/_sandbox/act", json={"action": "delete", "id": removed}).raise_for_status()
    end = datetime.now(UTC) + timedelta(seconds=2)
    updated = sf.Contact.updated(start, end)
    deleted = sf.Contact.deleted(start, end)
    assert changed in updated["ids"]
    assert removed not in updated["ids"]
    assert "latestDateCovered" in updated
    assert removed in [d["id"] for d in deleted["deletedRecords"]]
    assert changed not in [d["id"] for d in deleted["deletedRecords"]]
    assert {"earliestDateAvailable", "latestDateCovered"} <= deleted.keys()


def test_act_by_email_with_late_stamp(sf: Salesforce, control: httpx.Client) -> None:
    """A UI edit found by email (any case) can commit with an earlier SystemModstamp."""
    record_id = _create(control, "Late.Commit@x.com")
    before = _sandbox_record(control, record_id)["SystemModstamp"]
    acted = control.post(
        "/_sandbox/act",
        json={
            "email": "late.commit@X.COM",
            "fields": {"HasOptedOutOfEmail": True},
            "stamp_offset_seconds": -3600,
        },
    ).json()
    assert acted["ids"] == [record_id]
    after = sf.Contact.get(record_id)
    assert after["HasOptedOutOfEmail"] is True
    assert after["SystemModstamp"] < before


def test_act_cannot_edit_a_deleted_record(control: httpx.Client) -> None:
    """The UI cannot edit a deleted record: /_sandbox/act answers 404, the record stays put."""
    record_id = _create(control, "binned@x.com")
    control.post("/_sandbox/act", json={"action": "delete", "id": record_id}).raise_for_status()
    edit = {"email": "binned@x.com", "fields": {"DoNotCall": True}}
    assert control.post("/_sandbox/act", json=edit).status_code == 404
    record = _sandbox_record(control, record_id)
    assert record["IsDeleted"] is True
    assert record["DoNotCall"] is False
