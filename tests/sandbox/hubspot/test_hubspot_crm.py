"""CRM contacts v3 and properties, driven through hubspot-api-client only."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException

from support.hubspot_emulator import SEEDED, Sandbox


def _update(api: Any, changes: dict[str, dict[str, str]]) -> Any:
    inputs = [SimplePublicObjectBatchInput(id=i, properties=p) for i, p in changes.items()]
    return api.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))


def _read(api: Any, ids: list[str], properties: list[str]) -> Any:
    request = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ids],
        properties=properties,
        properties_with_history=[],
    )
    return api.crm.contacts.batch_api.read(request)


def test_valid_token_reads_and_wrong_token_gets_hubspot_401(sandbox: Sandbox) -> None:
    """The private-app token opens the API; any other token gets 401 INVALID_AUTHENTICATION."""
    assert sandbox.client().crm.contacts.basic_api.get_page(limit=1).results
    with pytest.raises(ApiException) as caught:
        sandbox.client("pat-na1-wrong").crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 401
    body = json.loads(caught.value.body)
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"] and body["message"]


def test_missing_token_gets_401(sandbox: Sandbox) -> None:
    """A request without Authorization is refused with HubSpot's error body."""
    response = httpx.get(
        f"{sandbox.base_url}/crm/v3/objects/contacts", verify=sandbox.ssl_context()
    )
    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION"


def test_list_pages_through_every_contact_once(api: Any) -> None:
    """`after` paging visits every seeded contact exactly once, in id order."""
    seen: list[str] = []
    after = None
    while True:
        page = api.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email"])
        seen += [c.id for c in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(seen) >= SEEDED
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, key=int)


def test_get_by_id_and_by_hostile_email(api: Any) -> None:
    """A contact is found by id and by `idProperty=email`, also with quotes and mixed case."""
    page = api.crm.contacts.basic_api.get_page(limit=100, properties=["email"])
    quoted = next(c for c in page.results if "'" in (c.properties["email"] or ""))
    by_id = api.crm.contacts.basic_api.get_by_id(quoted.id, properties=["email", "phone"])
    assert by_id.properties["email"] == quoted.properties["email"]
    assert "phone" in by_id.properties
    by_email = api.crm.contacts.basic_api.get_by_id(
        quoted.properties["email"].upper(), id_property="email"
    )
    assert by_email.id == quoted.id


def test_unknown_id_is_404_object_not_found(api: Any) -> None:
    """A missing contact is 404 with category OBJECT_NOT_FOUND."""
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.basic_api.get_by_id("987654321")
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_create_then_duplicate_email_conflicts(api: Any) -> None:
    """Create answers 201 with the new contact; the same email again is 409 CONFLICT."""
    request = SimplePublicObjectInputForCreate(
        properties={"email": "new.person@example.com", "sms_consent": "opted_in"}, associations=[]
    )
    created = api.crm.contacts.basic_api.create(request)
    assert created.properties["sms_consent"] == "opted_in"
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "NEW.person@example.com"})
        )
    assert caught.value.status == 409
    assert created.id in json.loads(caught.value.body)["message"]


def test_batch_read_reports_unknown_ids_as_207(api: Any) -> None:
    """Batch read returns found contacts and a 207 error listing the ids it could not find."""
    result = _read(api, ["101", "102", "999999"], ["email", "hs_email_optout"])
    assert sorted(r.id for r in result.results) == ["101", "102"]
    assert result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context["ids"] == ["999999"]
    assert result.results[0].properties["hs_email_optout"] in ("true", "false")


def test_batch_update_writes_and_bumps_lastmodifieddate(api: Any) -> None:
    """A batch update changes values and moves lastmodifieddate strictly forward."""
    before = _read(api, ["103", "104"], ["lastmodifieddate"]).results
    stamps = {c.id: c.properties["lastmodifieddate"] for c in before}
    result = _update(
        api,
        {
            "103": {"sms_consent": "not_asked", "phone_consent": "true"},
            "104": {"sms_consent": "opted_out"},
        },
    )
    assert not getattr(result, "errors", None)
    after = {c.id: c for c in result.results}
    assert after["103"].properties["sms_consent"] == "not_asked"
    for contact_id in ("103", "104"):
        assert after[contact_id].properties["lastmodifieddate"] > stamps[contact_id]
    assert (
        after["103"].properties["lastmodifieddate"] != after["104"].properties["lastmodifieddate"]
    )


def test_batch_update_partial_failure_is_207_per_input(sandbox: Sandbox, api: Any) -> None:
    """Unknown ids and injected per-record failures come back as 207 errors; the rest is written."""
    sandbox.emulator.faults.config.batch_failure_ids.append("106")
    result = _update(
        api,
        {
            "105": {"phone_consent": "false"},
            "106": {"phone_consent": "false"},
            "999998": {"phone_consent": "false"},
        },
    )
    assert [r.id for r in result.results] == ["105"]
    by_category = {e.category: e.context["ids"] for e in result.errors}
    assert by_category == {"OBJECT_NOT_FOUND": ["999998"], "INTERNAL_ERROR": ["106"]}
    assert result.num_errors == 2


def test_writing_read_only_optout_is_read_only_value_error(api: Any) -> None:
    """Setting hs_email_optout through batch/update fails with HubSpot's READ_ONLY_VALUE error."""
    before = _read(api, ["107"], ["sms_consent", "lastmodifieddate"]).results[0].properties
    with pytest.raises(ApiException) as caught:
        _update(api, {"107": {"hs_email_optout": "true", "sms_consent": "not_asked"}})
    assert caught.value.status == 400
    body = json.loads(caught.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert "READ_ONLY_VALUE" in body["message"]
    after = _read(api, ["107"], ["sms_consent", "lastmodifieddate"]).results[0].properties
    assert after == before  # the whole batch failed: nothing was written


def test_invalid_option_and_oversized_batch_are_rejected(api: Any) -> None:
    """An unknown enumeration option and more than 100 inputs are both 400 VALIDATION_ERROR."""
    with pytest.raises(ApiException) as caught:
        _update(api, {"108": {"sms_consent": "maybe"}})
    assert "INVALID_OPTION" in json.loads(caught.value.body)["message"]
    with pytest.raises(ApiException) as caught:
        _update(api, {str(100 + i): {"phone_consent": "true"} for i in range(101)})
    assert caught.value.status == 400


def test_properties_describe_types_options_and_read_only(api: Any) -> None:
    """The property list shows the consent properties' types, options and read-only flags."""
    props = {p.name: p for p in api.crm.properties.core_api.get_all("contacts").results}
    sms = props["sms_consent"]
    assert (sms.type, sms.field_type) == ("enumeration", "select")
    assert [o.value for o in sms.options] == ["opted_in", "opted_out", "not_asked"]
    assert sms.modification_metadata.read_only_value is False
    assert props["phone_consent"].type == "bool"
    for name in ("hs_email_optout", "hs_email_optout_1001", "lastmodifieddate"):
        assert props[name].modification_metadata.read_only_value is True


def test_hostile_input_is_4xx_never_5xx(sandbox: Sandbox, http: httpx.Client) -> None:
    """Oversized ids, out-of-range numbers and broken JSON get HubSpot 4xx bodies, not 500s."""
    assert http.get("/crm/v3/objects/contacts/" + "9" * 40).status_code == 404
    huge = {"propertyName": "hs_object_id", "operator": "EQ", "value": "9" * 40}
    search = http.post(
        "/crm/v3/objects/contacts/search", json={"filterGroups": [{"filters": [huge]}]}
    )
    assert search.status_code == 400
    broken = http.post(
        "/crm/v3/objects/contacts/batch/update",
        content=b'{"inputs": [',
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["category"] == "VALIDATION_ERROR"
    assert http.get("/_sandbox/contacts", params={"id": "9" * 40}).status_code == 404


def test_properties_with_history_lists_changes_newest_first(api: Any, http: httpx.Client) -> None:
    """propertiesWithHistory gives each change with its time and source, the seeded value last."""
    seeded = api.crm.contacts.basic_api.get_by_id(
        "150", properties=["firstname"], properties_with_history=["firstname"]
    )
    (only,) = seeded.properties_with_history["firstname"]
    assert (only.value, only.source_type) == (seeded.properties["firstname"], "IMPORT")
    assert only.timestamp == seeded.created_at

    http.post(
        "/_sandbox/act", json={"action": "edit", "id": "150", "properties": {"firstname": "A"}}
    )
    _update(api, {"150": {"firstname": "B"}})
    result = _read(api, ["150"], ["firstname"])
    history = result.results[0].properties_with_history
    assert history is None  # batch read without propertiesWithHistory returns none
    changed = api.crm.contacts.basic_api.get_by_id("150", properties_with_history=["firstname"])
    entries = changed.properties_with_history["firstname"]
    assert [(e.value, e.source_type) for e in entries] == [
        ("B", "API"),
        ("A", "CRM_UI"),
        (only.value, "IMPORT"),
    ]
    assert entries[0].timestamp > entries[1].timestamp > entries[2].timestamp


def test_batch_read_with_history_is_limited_to_50_inputs(api: Any) -> None:
    """Batch read asking for property histories accepts at most 50 inputs, as HubSpot does."""
    ids = [str(101 + i) for i in range(51)]
    assert len(_read(api, ids, ["email"]).results) == 51
    request = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ids],
        properties=["email"],
        properties_with_history=["sms_consent"],
    )
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.batch_api.read(request)
    assert caught.value.status == 400
    assert "50" in json.loads(caught.value.body)["message"]
    request.inputs = request.inputs[:50]
    read = api.crm.contacts.batch_api.read(request)
    assert all("sms_consent" in c.properties_with_history for c in read.results)
