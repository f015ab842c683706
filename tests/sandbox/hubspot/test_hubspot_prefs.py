"""Communication Preferences: v3 through the official client, v4 through httpx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hubspot.communication_preferences import PublicUpdateSubscriptionStatusRequest
from hubspot.communication_preferences.exceptions import ApiException

MARKETING = 1001
V4 = "/communication-preferences/v4/statuses"


def _person(http: httpx.Client, email: str) -> dict[str, Any]:
    response = http.post("/_sandbox/act", json={"action": "create", "email": email})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _inspect(http: httpx.Client, email: str) -> dict[str, Any]:
    return http.get("/_sandbox/contacts", params={"email": email}).json()  # type: ignore[no-any-return]


def _v3(email: str, subscription: int = MARKETING) -> PublicUpdateSubscriptionStatusRequest:
    return PublicUpdateSubscriptionStatusRequest(
        email_address=email, subscription_id=str(subscription), legal_basis="CONSENT_WITH_NOTICE"
    )


def _v4_write(http: httpx.Client, email: str, state: str) -> dict[str, Any]:
    entry = {
        "subscriberIdString": email,
        "subscriptionId": MARKETING,
        "statusState": state,
        "channel": "EMAIL",
        "legalBasis": "CONSENT_WITH_NOTICE",
        "legalBasisExplanation": "Re-opted in at the trade fair",
    }
    response = http.post(f"{V4}/batch/write", json={"inputs": [entry]})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_definitions_list_the_portal_subscriptions(api: Any) -> None:
    """v3 definitions name every subscription type, with the marketing one as default."""
    definitions = api.communication_preferences.definition_api.get_page().subscription_definitions
    by_id = {d.id: d for d in definitions}
    assert by_id[str(MARKETING)].is_default is True
    assert by_id[str(MARKETING)].communication_method == "Email"


def test_v3_status_works_for_percent_encoded_hostile_email(api: Any, http: httpx.Client) -> None:
    """A quoted, plus-addressed unicode email round-trips through the encoded v3 status path."""
    email = "Zoë.O'Brien+news@exämple.de"
    _person(http, email)
    api.communication_preferences.status_api.subscribe(_v3(email))
    status = api.communication_preferences.status_api.get_email_status(email)
    assert status.recipient == email
    marketing = next(s for s in status.subscription_statuses if s.id == str(MARKETING))
    assert (marketing.status, marketing.legal_basis) == ("SUBSCRIBED", "CONSENT_WITH_NOTICE")


def test_v3_cannot_resubscribe_an_opt_out_but_v4_can(api: Any, http: httpx.Client) -> None:
    """After an unsubscribe, v3 subscribe is refused with 400; v4 batch/write resubscribes."""
    email = "resubscribe@example.com"
    _person(http, email)
    prefs = api.communication_preferences.status_api
    prefs.subscribe(_v3(email))
    prefs.unsubscribe(_v3(email))
    assert _inspect(http, email)["properties"][f"hs_email_optout_{MARKETING}"] == "true"
    with pytest.raises(ApiException) as caught:
        prefs.subscribe(_v3(email))
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["status"] == "error"
    written = _v4_write(http, email, "SUBSCRIBED")["results"][0]
    assert written["status"] == "SUBSCRIBED"
    assert written["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"
    assert written["legalBasisExplanation"] == "Re-opted in at the trade fair"
    assert _inspect(http, email)["properties"][f"hs_email_optout_{MARKETING}"] == "false"
    single = http.get(f"{V4}/{email}", params={"channel": "EMAIL"}).json()["results"]
    marketing = next(s for s in single if s["subscriptionId"] == MARKETING)
    assert (marketing["status"], marketing["legalBasis"]) == ("SUBSCRIBED", "CONSENT_WITH_NOTICE")


def test_v4_write_of_same_state_is_no_status_change(http: httpx.Client) -> None:
    """Writing the status a contact already has changes nothing, lastmodifieddate included."""
    email = "same-state@example.com"
    _person(http, email)
    _v4_write(http, email, "UNSUBSCRIBED")
    stamp = _inspect(http, email)["properties"]["lastmodifieddate"]
    again = _v4_write(http, email, "UNSUBSCRIBED")["results"][0]
    assert again["setStatusSuccessReason"] == "NO_STATUS_CHANGE"
    assert _inspect(http, email)["properties"]["lastmodifieddate"] == stamp


def test_unsubscribe_all_derives_hs_email_optout(api: Any, http: httpx.Client) -> None:
    """v4 unsubscribe-all sets hs_email_optout, unsubscribes every type and bumps the stamp."""
    email = "leave.me.alone@example.com"
    created = _person(http, email)
    assert created["properties"]["hs_email_optout"] == "false"
    response = http.post(
        f"{V4}/{email}/unsubscribe-all", params={"channel": "EMAIL", "verbose": "true"}
    )
    assert response.status_code == 200, response.text
    assert {s["status"] for s in response.json()["results"]} == {"UNSUBSCRIBED"}
    contact = api.crm.contacts.basic_api.get_by_id(
        created["id"], properties=["hs_email_optout", "lastmodifieddate"]
    )
    assert contact.properties["hs_email_optout"] == "true"
    assert contact.properties["lastmodifieddate"] > created["properties"]["lastmodifieddate"]
    status = api.communication_preferences.status_api.get_email_status(email)
    assert {s.source_of_status for s in status.subscription_statuses} == {"PORTAL_WIDE_STATUS"}
    with pytest.raises(ApiException):
        api.communication_preferences.status_api.subscribe(_v3(email))


def test_v4_batch_unsubscribe_all_and_batch_read(http: httpx.Client) -> None:
    """Batch unsubscribe-all opts several people out; batch/read shows every status per person."""
    emails = ["batch.one@example.com", "batch.two@example.com"]
    for email in emails:
        _person(http, email)
    response = http.post(
        f"{V4}/batch/unsubscribe-all", params={"channel": "EMAIL"}, json={"inputs": emails}
    )
    assert response.status_code == 200, response.text
    read = http.post(f"{V4}/batch/read", params={"channel": "EMAIL"}, json={"inputs": emails})
    assert read.status_code == 200
    results = {r["subscriberIdString"]: r["statuses"] for r in read.json()["results"]}
    assert set(results) == set(emails)
    for statuses in results.values():
        assert {s["status"] for s in statuses} == {"UNSUBSCRIBED"}
        assert all(s["timestamp"].endswith("Z") and s["channel"] == "EMAIL" for s in statuses)


def test_v4_batch_read_without_channel_is_400(http: httpx.Client) -> None:
    """The required `channel` query parameter missing is HubSpot's 400 VALIDATION_ERROR."""
    response = http.post(f"{V4}/batch/read", json={"inputs": ["x@example.com"]})
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
