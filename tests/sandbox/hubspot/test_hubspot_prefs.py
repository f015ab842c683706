"""Communication Preferences: v3 through the official client, v4 through httpx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hubspot.communication_preferences import PublicUpdateSubscriptionStatusRequest
from hubspot.communication_preferences.exceptions import ApiException
from hubspot.crm.contacts import PublicObjectSearchRequest

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
        email_address=email,
        subscription_id=str(subscription),
        legal_basis="CONSENT_WITH_NOTICE",
        legal_basis_explanation="Asked for the newsletter on the signup form",
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


def _entry(email: str, state: str, **evidence: str) -> dict[str, Any]:
    return {
        "subscriberIdString": email,
        "subscriptionId": MARKETING,
        "statusState": state,
        "channel": "EMAIL",
        **evidence,
    }


def _wide(http: httpx.Client, *emails: str) -> dict[str, list[dict[str, Any]]]:
    response = http.post(
        f"{V4}/batch/unsubscribe-all/read", params={"channel": "EMAIL"}, json={"inputs": emails}
    )
    assert response.status_code == 200, response.text
    return {r["subscriberIdString"]: r["wideStatuses"] for r in response.json()["results"]}


def test_v4_subscribed_without_legal_basis_is_refused_per_input(http: httpx.Client) -> None:
    """batch/write SUBSCRIBED lacking legalBasis or its explanation: a 207 per-input error."""
    no_basis, no_explanation, leaving = (
        "no.basis@example.com",
        "no.explanation@example.com",
        "leaving@example.com",
    )
    for email in (no_basis, no_explanation, leaving):
        _person(http, email)
    inputs = [
        _entry(no_basis, "SUBSCRIBED"),
        _entry(no_explanation, "SUBSCRIBED", legalBasis="CONSENT_WITH_NOTICE"),
        _entry(leaving, "UNSUBSCRIBED"),  # an unsubscribe needs no legal basis
    ]
    response = http.post(f"{V4}/batch/write", json={"inputs": inputs})
    assert response.status_code == 207, response.text
    body = response.json()
    assert [r["subscriberIdString"] for r in body["results"]] == [leaving]
    assert body["numErrors"] == 2
    refused = {e["context"]["ids"][0]: e for e in body["errors"]}
    assert set(refused) == {no_basis, no_explanation}
    assert all(e["category"] == "VALIDATION_ERROR" for e in refused.values())
    assert {d["in"] for d in refused[no_basis]["errors"]} == {"legalBasis", "legalBasisExplanation"}
    assert {d["in"] for d in refused[no_explanation]["errors"]} == {"legalBasisExplanation"}
    assert "legalBasisExplanation" in refused[no_explanation]["message"]
    for email in (no_basis, no_explanation):
        assert str(MARKETING) not in _inspect(http, email)["subscriptions"]


def test_portal_without_gdpr_accepts_subscribed_without_basis(http: httpx.Client) -> None:
    """With the portal's GDPR features off, SUBSCRIBED without a legal basis is written."""
    email = "non.gdpr@example.com"
    _person(http, email)
    assert http.get("/_sandbox/portal").json() == {"gdpr_enabled": True}
    http.put("/_sandbox/portal", json={"gdpr_enabled": False}).raise_for_status()
    try:
        response = http.post(f"{V4}/batch/write", json={"inputs": [_entry(email, "SUBSCRIBED")]})
    finally:
        http.put("/_sandbox/portal", json={"gdpr_enabled": True}).raise_for_status()
    assert response.status_code == 200, response.text
    (written,) = response.json()["results"]
    assert (written["status"], written["legalBasis"]) == ("SUBSCRIBED", None)


def test_v3_subscribe_without_legal_basis_is_400(api: Any, http: httpx.Client) -> None:
    """v3 subscribe without legalBasis is HubSpot's 400 VALIDATION_ERROR in a GDPR portal."""
    email = "v3.no.basis@example.com"
    _person(http, email)
    request = PublicUpdateSubscriptionStatusRequest(
        email_address=email, subscription_id=str(MARKETING)
    )
    with pytest.raises(ApiException) as caught:
        api.communication_preferences.status_api.subscribe(request)
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"
    assert str(MARKETING) not in _inspect(http, email)["subscriptions"]


def test_v4_write_reasons_are_the_documented_enum(http: httpx.Client) -> None:
    """A plain unsubscribe answers REQUESTED_CHANGE_OCCURRED, as v4 documents its reasons."""
    email = "reason@example.com"
    _person(http, email)
    written = _v4_write(http, email, "UNSUBSCRIBED")["results"][0]
    assert written["setStatusSuccessReason"] == "REQUESTED_CHANGE_OCCURRED"


def test_unsubscribe_all_verbose_reason_and_repeat_is_no_change(http: httpx.Client) -> None:
    """Verbose unsubscribe-all: each type UNSUBSCRIBE_FROM_ALL_OCCURRED; a repeat is no change."""
    email = "twice.out@example.com"
    _person(http, email)
    params = {"channel": "EMAIL", "verbose": "true"}
    first = http.post(f"{V4}/{email}/unsubscribe-all", params=params).json()["results"]
    assert {(s["status"], s["setStatusSuccessReason"]) for s in first} == {
        ("UNSUBSCRIBED", "UNSUBSCRIBE_FROM_ALL_OCCURRED")
    }
    stamp = _inspect(http, email)["properties"]["lastmodifieddate"]
    again = http.post(f"{V4}/{email}/unsubscribe-all", params=params).json()["results"]
    assert {s["setStatusSuccessReason"] for s in again} == {"NO_STATUS_CHANGE"}
    assert _inspect(http, email)["properties"]["lastmodifieddate"] == stamp
    quiet = http.post(f"{V4}/{email}/unsubscribe-all", params={"channel": "EMAIL"}).json()
    assert (quiet["status"], quiet["results"]) == ("COMPLETE", [])


def test_batch_wide_status_read_reports_only_opt_outs_of_all(http: httpx.Client) -> None:
    """batch/unsubscribe-all/read: PORTAL_WIDE UNSUBSCRIBED for an opt-out of all, else none."""
    out, single, stranger = "wide.out@example.com", "single.out@example.com", "nobody@example.com"
    _person(http, out)
    _person(http, single)
    http.post(f"{V4}/{out}/unsubscribe-all", params={"channel": "EMAIL"}).raise_for_status()
    _v4_write(http, single, "UNSUBSCRIBED")  # one subscription type is not all email
    wide = _wide(http, out, single, stranger)
    assert wide[single] == [] and wide[stranger] == []
    (entry,) = wide[out]
    assert entry["status"] == "UNSUBSCRIBED"
    assert entry["wideStatusType"] == "PORTAL_WIDE"
    assert (entry["subscriberIdString"], entry["channel"]) == (out, "EMAIL")
    assert entry["timestamp"].endswith("Z")
    one = http.get(f"{V4}/{out}/unsubscribe-all", params={"channel": "EMAIL"}).json()["results"]
    assert one == [entry]
    missing_channel = http.post(f"{V4}/batch/unsubscribe-all/read", json={"inputs": [out]})
    assert missing_channel.status_code == 400


def test_hs_email_optout_reaches_crm_reads_searches_and_lists(api: Any, http: httpx.Client) -> None:
    """After unsubscribe-all, hs_email_optout is true in read, list and lastmodifieddate search."""
    email = "seen.everywhere@example.com"
    created = _person(http, email)
    before = created["properties"]["lastmodifieddate"]
    http.post(
        f"{V4}/batch/unsubscribe-all", params={"channel": "EMAIL"}, json={"inputs": [email]}
    ).raise_for_status()
    read = api.crm.contacts.basic_api.get_by_id(created["id"], properties=["hs_email_optout"])
    assert read.properties["hs_email_optout"] == "true"
    changed = api.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "GT", "value": before},
                        {"propertyName": "hs_email_optout", "operator": "EQ", "value": "true"},
                    ]
                }
            ],
            sorts=["lastmodifieddate"],
            properties=["hs_email_optout"],
            limit=200,
        )
    )
    assert created["id"] in {c.id for c in changed.results}
    listed = http.get(
        "/crm/v3/objects/contacts",
        params={"after": created["id"], "limit": 1, "properties": "hs_email_optout"},
    ).json()["results"]
    assert listed[0]["properties"]["hs_email_optout"] == "true"


def test_v4_resubscribe_lifts_the_wide_opt_out(http: httpx.Client) -> None:
    """A SUBSCRIBED with its legal basis after unsubscribe-all clears the wide status too."""
    email = "came.back@example.com"
    _person(http, email)
    http.post(f"{V4}/{email}/unsubscribe-all", params={"channel": "EMAIL"}).raise_for_status()
    written = _v4_write(http, email, "SUBSCRIBED")["results"][0]
    assert written["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"
    assert _wide(http, email)[email] == []
    assert _inspect(http, email)["properties"]["hs_email_optout"] == "false"


def test_act_unsubscribe_all_is_a_person_leaving_all_email(http: httpx.Client) -> None:
    """act unsubscribe_all: wide status, every type UNSUBSCRIBED, hs_email_optout, a newer stamp."""
    email = "clicked.leave.all@example.com"
    created = _person(http, email)
    response = http.post("/_sandbox/act", json={"action": "unsubscribe_all", "email": email})
    assert response.status_code == 200, response.text
    acted = response.json()
    assert acted["properties"]["hs_email_optout"] == "true"
    assert acted["properties"]["lastmodifieddate"] > created["properties"]["lastmodifieddate"]
    assert {s["status"] for s in acted["subscriptions"].values()} == {"UNSUBSCRIBED"}
    assert {s["source"] for s in acted["subscriptions"].values()} == {"EMAIL"}
    assert len(acted["subscriptions"]) == 3
    (entry,) = _wide(http, email)[email]
    assert (entry["status"], entry["wideStatusType"]) == ("UNSUBSCRIBED", "PORTAL_WIDE")
