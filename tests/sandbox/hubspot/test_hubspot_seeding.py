"""What a seeded portal looks like over HTTP: most people never asked, evidence on every opt-in."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from hubspot.crm.contacts import PublicObjectSearchRequest

from consent_sync_sandbox.hubspot.props import LEGAL_BASES, SUBSCRIPTIONS, optout_property
from consent_sync_sandbox.hubspot.seeding import FIRST_ID
from consent_sync_sandbox.hubspot.store import ContactStore
from consent_sync_sandbox.seed import iter_people
from support.hubspot_emulator import Sandbox

CONTACTS = 4000  # the module's sandbox: enough people for the seeded shares to show
V4 = "/communication-preferences/v4/statuses"


@pytest.fixture(scope="module")
def emails(sandbox: Sandbox) -> list[str]:
    """Every seeded contact's email, paged through the CRM v3 list endpoint."""
    found: list[str] = []
    with sandbox.http() as http:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, "properties": "email"}
            if after:
                params["after"] = after
            page = http.get("/crm/v3/objects/contacts", params=params).json()
            found += [c["properties"]["email"] for c in page["results"]]
            after = (page.get("paging") or {}).get("next", {}).get("after")
            if not after:
                return found


@pytest.fixture(scope="module")
def statuses(sandbox: Sandbox, emails: list[str]) -> list[dict[str, Any]]:
    """Every v4 status of every seeded contact, read 100 subscribers a call."""
    read: list[dict[str, Any]] = []
    with sandbox.http() as http:
        for start in range(0, len(emails), 100):
            response = http.post(
                f"{V4}/batch/read",
                params={"channel": "EMAIL"},
                json={"inputs": emails[start : start + 100]},
            )
            assert response.status_code == 200, response.text
            read += [s for r in response.json()["results"] for s in r["statuses"]]
    return read


def _total(api: Any, *filters: dict[str, Any]) -> int:
    request = PublicObjectSearchRequest(filter_groups=[{"filters": list(filters)}], limit=1)
    return int(api.crm.contacts.search_api.do_search(request).total)


def _share(api: Any, name: str, operator: str, value: str | None = None) -> float:
    flt: dict[str, Any] = {"propertyName": name, "operator": operator}
    if value is not None:
        flt["value"] = value
    return _total(api, flt) / CONTACTS


def test_every_subscription_type_is_mostly_not_specified(statuses: list[dict[str, Any]]) -> None:
    """On each subscription type ~75% NOT_SPECIFIED, ~12% SUBSCRIBED, ~10-13% UNSUBSCRIBED."""
    assert len(statuses) == CONTACTS * len(SUBSCRIPTIONS)
    for sub in SUBSCRIPTIONS:
        counts = Counter(s["status"] for s in statuses if s["subscriptionId"] == sub.id)
        shares = {status: n / CONTACTS for status, n in counts.items()}
        assert 0.68 <= shares["NOT_SPECIFIED"] <= 0.82, (sub.id, shares)
        assert 0.08 <= shares["SUBSCRIBED"] <= 0.16, (sub.id, shares)
        assert 0.08 <= shares["UNSUBSCRIBED"] <= 0.18, (sub.id, shares)


def test_every_seeded_subscribed_carries_legal_basis_explanation_and_source(
    statuses: list[dict[str, Any]],
) -> None:
    """A seeded SUBSCRIBED has a known legalBasis, an explanation and a source; others none."""
    subscribed = [s for s in statuses if s["status"] == "SUBSCRIBED"]
    assert subscribed
    for status in subscribed:
        assert status["legalBasis"] in LEGAL_BASES, status
        assert status["legalBasisExplanation"], status
        assert status["source"], status
    assert len({s["legalBasis"] for s in subscribed}) >= 3
    for status in statuses:
        if status["status"] != "SUBSCRIBED":
            assert status["legalBasis"] is None, status
        if status["status"] == "NOT_SPECIFIED":
            assert status["source"] == "", status


def test_a_few_contacts_are_opted_out_of_all_email(api: Any) -> None:
    """About 3% have hs_email_optout true; everyone else reads false."""
    opted_out = _share(api, "hs_email_optout", "EQ", "true")
    assert 0.015 <= opted_out <= 0.05
    assert _share(api, "hs_email_optout", "EQ", "false") == pytest.approx(1 - opted_out)


def test_seeded_opt_out_of_all_reads_as_wide_and_individual_unsubscribes(
    api: Any, http: httpx.Client
) -> None:
    """A seeded opt-out of all: v4 wide status PORTAL_WIDE UNSUBSCRIBED, every type UNSUBSCRIBED."""
    request = PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "hs_email_optout", "operator": "EQ", "value": "true"}]}
        ],
        properties=["email", *(optout_property(s.id) for s in SUBSCRIPTIONS)],
        limit=5,
    )
    found = api.crm.contacts.search_api.do_search(request).results
    assert found
    emails = [c.properties["email"] for c in found]
    for contact in found:
        assert {contact.properties[optout_property(s.id)] for s in SUBSCRIPTIONS} == {"true"}
    wide = http.post(
        f"{V4}/batch/unsubscribe-all/read", params={"channel": "EMAIL"}, json={"inputs": emails}
    ).json()["results"]
    for result in wide:
        (entry,) = result["wideStatuses"]
        assert (entry["status"], entry["wideStatusType"]) == ("UNSUBSCRIBED", "PORTAL_WIDE")


def test_sms_and_phone_consent_are_mostly_empty(api: Any) -> None:
    """sms_consent is mostly empty or not_asked and phone_consent mostly empty; a few say more."""
    sms_empty = _share(api, "sms_consent", "NOT_HAS_PROPERTY")
    sms_not_asked = _share(api, "sms_consent", "EQ", "not_asked")
    sms_in = _share(api, "sms_consent", "EQ", "opted_in")
    sms_out = _share(api, "sms_consent", "EQ", "opted_out")
    assert sms_empty + sms_not_asked >= 0.8
    assert sms_empty > sms_not_asked > 0
    assert 0.02 <= sms_in <= 0.09 and 0.02 <= sms_out <= 0.09
    phone_empty = _share(api, "phone_consent", "NOT_HAS_PROPERTY")
    phone_true = _share(api, "phone_consent", "EQ", "true")
    phone_false = _share(api, "phone_consent", "EQ", "false")
    assert phone_empty >= 0.75
    assert 0.01 <= phone_true <= 0.08 and 0.06 <= phone_false <= 0.15


def test_seeding_is_deterministic_for_a_seed() -> None:
    """Two portals seeded alike hold the same contacts, properties and subscription states."""

    def snapshot(seed: int) -> list[tuple[object, ...]]:
        store = ContactStore()
        try:
            store.seed(iter_people("hubspot", 300, seed, 0.8), 300)
            contacts = store.page(FIRST_ID, 300)
            states = store.subscriptions([c.id for c in contacts])
            return [
                (
                    c.email,
                    c.sms_consent,
                    c.phone_consent,
                    c.unsub_all,
                    sorted(
                        (s.subscription_id, s.status, s.legal_basis, s.source)
                        for s in states[c.id].values()
                    ),
                )
                for c in contacts
            ]
        finally:
            store.close()

    assert snapshot(7) == snapshot(7)
    assert snapshot(7) != snapshot(8)
