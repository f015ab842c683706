"""Fault injection and the sandbox's own surfaces (act, inspect, stats), seen by real clients."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException
from urllib3.exceptions import HTTPError

from support.hubspot_emulator import Sandbox

LIST = "/crm/v3/objects/contacts$"


def _fault(http: httpx.Client, **rule: Any) -> None:
    response = http.put("/_sandbox/faults", json={"rules": [{"path": LIST, **rule}]})
    assert response.status_code == 200, response.text


def test_injected_429_carries_retry_after_and_hubspot_body(api: Any, http: httpx.Client) -> None:
    """An injected 429 reaches the client with Retry-After and a RATE_LIMITS body, then clears."""
    _fault(http, status=429, retry_after="2", times=1)
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "2"
    assert json.loads(caught.value.body)["category"] == "RATE_LIMITS"
    assert api.crm.contacts.basic_api.get_page(limit=1).results


def test_injected_503_is_a_hubspot_error(api: Any, http: httpx.Client) -> None:
    """An injected 503 arrives as an ApiException with HubSpot's error body."""
    _fault(http, status=503, times=1)
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 503
    assert json.loads(caught.value.body)["status"] == "error"


def test_dropped_connection_surfaces_as_transport_error(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    """A connection cut mid-response is a urllib3 transport error, not a silent short page."""
    _fault(http, kind="drop", times=1)
    with pytest.raises(HTTPError):
        sandbox.client().crm.contacts.basic_api.get_page(limit=1)


def test_malformed_body_is_not_json(sandbox: Sandbox, api: Any, http: httpx.Client) -> None:
    """A malformed body is invalid JSON; the official client then yields a page without results."""
    _fault(http, kind="malformed", times=2)
    raw = http.get("/crm/v3/objects/contacts", params={"limit": 1})
    with pytest.raises(json.JSONDecodeError):
        raw.json()
    assert api.crm.contacts.basic_api.get_page(limit=1).results is None


def test_expired_tokens_get_401_expired_authentication(api: Any, http: httpx.Client) -> None:
    """With token expiry injected, calls get 401 EXPIRED_AUTHENTICATION."""
    http.put("/_sandbox/faults", json={"expire_tokens": True})
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 401
    assert json.loads(caught.value.body)["category"] == "EXPIRED_AUTHENTICATION"


def test_stats_count_api_calls_but_not_sandbox_calls(api: Any, http: httpx.Client) -> None:
    """The meter counts API requests per route and status; act and inspect are not counted."""
    http.delete("/_sandbox/stats")
    api.crm.contacts.basic_api.get_by_id("140")
    api.crm.contacts.basic_api.get_by_id("141")
    http.post("/_sandbox/act", json={"action": "edit", "id": "140", "properties": {"phone": "+2"}})
    http.get("/_sandbox/contacts", params={"id": "140"})
    stats = http.get("/_sandbox/stats").json()
    assert stats["total"] == 2
    assert stats["endpoints"]["GET /crm/v3/objects/contacts/{contact_id}"] == {"200": 2}


def test_act_edit_bumps_lastmodifieddate_strictly(api: Any, http: httpx.Client) -> None:
    """Each person's action moves lastmodifieddate strictly forward, even within a millisecond."""
    stamps = []
    for value in ("opted_in", "opted_out", "not_asked"):
        acted = http.post(
            "/_sandbox/act",
            json={"action": "edit", "id": "142", "properties": {"sms_consent": value}},
        ).json()
        stamps.append(acted["properties"]["lastmodifieddate"])
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 3
    seen = api.crm.contacts.basic_api.get_by_id("142", properties=["sms_consent"])
    assert seen.properties["sms_consent"] == "not_asked"
    assert seen.properties["lastmodifieddate"] == stamps[-1]


def test_act_unsubscribe_one_subscription_only(http: httpx.Client) -> None:
    """A footer unsubscribe from one subscription leaves the all-email opt-out unset."""
    acted = http.post(
        "/_sandbox/act", json={"action": "unsubscribe", "id": "143", "subscription_id": 1002}
    ).json()
    assert acted["properties"]["hs_email_optout_1002"] == "true"
    assert acted["properties"]["hs_email_optout"] == "false"
    assert acted["subscriptions"]["1002"]["source"] == "EMAIL"


def test_subscription_changes_have_property_history(api: Any, http: httpx.Client) -> None:
    """An opt-out's history shows the footer click after the seeded status, with its times."""
    subscribed = {"propertyName": "hs_email_optout_1001", "operator": "EQ", "value": "false"}
    later = {"propertyName": "hs_object_id", "operator": "GT", "value": "200"}
    never_asked = {"propertyName": "hs_email_optout_1003", "operator": "NOT_HAS_PROPERTY"}
    found = api.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [subscribed, later, never_asked]}], limit=1
        )
    )
    contact_id = found.results[0].id
    http.post(
        "/_sandbox/act", json={"action": "unsubscribe", "id": contact_id, "subscription_id": 1001}
    )
    contact = api.crm.contacts.basic_api.get_by_id(
        contact_id, properties_with_history=["hs_email_optout_1001", "hs_email_optout_1003"]
    )
    history = contact.properties_with_history
    entries = [(e.value, e.source_type) for e in history["hs_email_optout_1001"]]
    assert entries == [("true", "EMAIL"), ("false", "IMPORT")]
    assert history["hs_email_optout_1003"] == []
