"""CRM search through the official client: filters, sorting, paging, the 10,000-result window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException

from support.hubspot_emulator import Sandbox, start_emulator


def _search(api: Any, *filters: dict[str, Any], **options: Any) -> Any:
    request = PublicObjectSearchRequest(filter_groups=[{"filters": list(filters)}], **options)
    return api.crm.contacts.search_api.do_search(request)


def test_eq_on_email_is_case_insensitive(api: Any) -> None:
    """EQ on email finds the contact whatever the case of the query."""
    first = api.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    email = first.properties["email"]
    found = _search(api, {"propertyName": "email", "operator": "EQ", "value": email.swapcase()})
    assert [c.id for c in found.results] == [first.id]
    assert found.total == 1


def test_in_has_property_and_not_has_property(api: Any) -> None:
    """IN matches any listed value; HAS_PROPERTY and NOT_HAS_PROPERTY split contacts by presence."""
    every = _search(api, limit=1).total
    with_sms = _search(api, {"propertyName": "sms_consent", "operator": "HAS_PROPERTY"}).total
    without = _search(api, {"propertyName": "sms_consent", "operator": "NOT_HAS_PROPERTY"}).total
    assert with_sms + without == every
    assert 0 < with_sms < every
    listed = _search(
        api,
        {"propertyName": "sms_consent", "operator": "IN", "values": ["opted_in", "opted_out"]},
        properties=["sms_consent"],
        limit=200,
    )
    assert {c.properties["sms_consent"] for c in listed.results} <= {"opted_in", "opted_out"}


def test_filter_groups_or_and_filters_and(api: Any) -> None:
    """Filters in a group are ANDed and groups are ORed."""
    ids = {"propertyName": "hs_object_id", "operator": "LTE", "value": "110"}
    optout = {"propertyName": "hs_email_optout_1001", "operator": "EQ", "value": "true"}
    both = _search(api, ids, optout, properties=["hs_email_optout_1001"], limit=200)
    assert all(int(c.id) <= 110 for c in both.results)
    assert all(c.properties["hs_email_optout_1001"] == "true" for c in both.results)
    either = api.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": "101"}]},
                {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": "102"}]},
            ]
        )
    )
    assert sorted(c.id for c in either.results) == ["101", "102"]


def test_incremental_search_by_lastmodifieddate_sees_a_change(api: Any, http: Any) -> None:
    """Sorting ascending on lastmodifieddate and filtering GT the last stamp yields new changes."""
    latest = _search(
        api, sorts=[{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}], limit=1
    ).results[0]
    stamp = latest.properties["lastmodifieddate"]
    http.post("/_sandbox/act", json={"action": "edit", "id": "120", "properties": {"phone": "+1"}})
    changed = _search(
        api,
        {"propertyName": "lastmodifieddate", "operator": "GT", "value": stamp},
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
    )
    assert [c.id for c in changed.results] == ["120"]
    assert changed.results[0].properties["lastmodifieddate"] > stamp


def test_unknown_property_and_limit_over_200_are_400(api: Any) -> None:
    """Searching an unknown property, or with limit over 200, is a 400 VALIDATION_ERROR."""
    with pytest.raises(ApiException) as caught:
        _search(api, {"propertyName": "nope", "operator": "EQ", "value": "x"})
    assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ApiException) as caught:
        _search(api, limit=201)
    assert caught.value.status == 400


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """An emulator with more contacts than one search may return."""
    running = start_emulator(tmp_path_factory.mktemp("large"), 10_050, search_rate=10_000)
    yield running
    running.stop()


def test_search_pages_to_10000_then_after_10000_is_400(large: Sandbox) -> None:
    """Paging with limit 200 reaches result 10,000; asking for `after` 10000 is a 400."""
    api = large.client()
    sorts = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    seen: list[str] = []
    after: str | None = None
    while after != "10000":
        options: dict[str, Any] = {"sorts": sorts, "limit": 200, "properties": ["email"]}
        if after is not None:
            options["after"] = after
        page = api.crm.contacts.search_api.do_search(PublicObjectSearchRequest(**options))
        assert page.total == 10_050
        seen += [c.id for c in page.results]
        after = page.paging.next.after
    assert len(seen) == len(set(seen)) == 10_000
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.search_api.do_search(
            PublicObjectSearchRequest(sorts=sorts, limit=200, after="10000")
        )
    assert caught.value.status == 400
    assert "10000" in json.loads(caught.value.body)["message"]
