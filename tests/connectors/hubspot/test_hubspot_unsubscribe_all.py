"""Opted out of all email: read as UNSUBSCRIBED on every mapped subscription; pushed as one call."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx

from consent_sync.config import load_config
from consent_sync.config.mappings import UnsubscribeAll
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.hubspot.connector import HubSpotConnector
from consent_sync.connectors.hubspot.preferences import parse_hs_datetime
from consent_sync.connectors.protocol import FieldWrite, WriteResult
from consent_sync.domain.records import Page
from support.hubspot_portal import Portal, records
from support.paths import REPO

#: Two mapped subscription types: Marketing Information and Product Updates.
TWO = {"marketing_email": "1001", "product_email": "1002"}
ALL_OUT = dict.fromkeys(TWO, "UNSUBSCRIBED")
V4_READ = "POST /communication-preferences/v4/statuses/batch/read"
V4_WRITE = "POST /communication-preferences/v4/statuses/batch/write"
WIDE_READ = "POST /communication-preferences/v4/statuses/batch/unsubscribe-all/read"
UNSUBSCRIBE_ALL = "POST /communication-preferences/v4/statuses/batch/unsubscribe-all"
_names = itertools.count()


def _two(portal: Portal, **overrides: Any) -> HubSpotConnector:
    return portal.connector(subscriptions=TWO, **overrides)


def _fresh(portal: Portal) -> tuple[str, str]:
    """A new contact nobody ever asked about email: (id, email)."""
    email = f"wide{next(_names)}@example.com"
    return str(portal.act("create", email=email)["id"]), email


def _wide_stamp(portal: Portal, email: str) -> datetime:
    """When the portal says the subscriber opted out of all email (v4 wide status)."""
    answer = portal.control.get(
        f"/communication-preferences/v4/statuses/{quote(email)}/unsubscribe-all",
        params={"channel": "EMAIL"},
        headers={"Authorization": f"Bearer {portal.env['HUBSPOT_ACCESS_TOKEN']}"},
    )
    answer.raise_for_status()
    (wide,) = answer.json()["results"]
    assert wide["status"] == "UNSUBSCRIBED"
    return parse_hs_datetime(wide["timestamp"])


def test_opted_out_of_all_reads_unsubscribed_on_every_mapped_subscription(portal: Portal):
    """hs_email_optout: each mapped subscription reads UNSUBSCRIBED at the wide status's time."""
    record_id, email = _fresh(portal)
    connector = _two(portal)
    (granted,) = connector.write(
        "contacts", [FieldWrite(record_id, {"product_email": "SUBSCRIBED"}, "consent", "form")]
    )
    assert granted.ok
    portal.act("unsubscribe_all", id=record_id)
    stamp = _wide_stamp(portal, email)
    (record,) = connector.read("contacts", [record_id])
    assert record.fields["hs_email_optout"] is True
    for name in TWO:
        assert record.fields[name] == "UNSUBSCRIBED"
        assert record.field_times[name] == stamp
        assert record.field_evidence[name]["collection_method"] == "unsubscribe_all"


def test_wide_status_is_read_only_for_contacts_flagged_opted_out(portal: Portal):
    """No wide-status call for a page without hs_email_optout; one per page that has one."""
    plain = [_fresh(portal)[0] for _ in range(3)]
    connector = _two(portal)
    portal.reset_stats()
    pulled = connector.read("contacts", plain)
    assert all(r.fields["hs_email_optout"] is False for r in pulled)
    assert portal.requests(WIDE_READ) == 0
    assert portal.requests(V4_READ) == 1
    portal.act("unsubscribe_all", id=plain[1])
    portal.reset_stats()
    pulled = connector.read("contacts", plain)
    assert [r.fields["marketing_email"] for r in pulled] == [
        "NOT_SPECIFIED",
        "UNSUBSCRIBED",
        "NOT_SPECIFIED",
    ]
    assert portal.requests(WIDE_READ) == 1


def test_full_listing_costs_one_wide_read_per_page_holding_an_opt_out(portal: Portal):
    """A full pull adds a wide-status read only for pages with an opted-out-of-all contact."""
    connector = _two(portal)
    portal.reset_stats()
    pages = list(connector.pull("contacts", None))
    assert pages.pop() == Page([], None)  # the page that closes a pull (connectors/window.py)
    flagged_pages = sum(1 for p in pages if any(r.fields["hs_email_optout"] for r in p.records))
    assert portal.requests(WIDE_READ) == flagged_pages
    assert portal.requests(V4_READ) == len(pages)
    opted_out = [r for r in records(pages) if r.fields["hs_email_optout"]]
    assert all(r.fields[name] == "UNSUBSCRIBED" for r in opted_out for name in TWO)


def _v4_answer(email: str, statuses: list[dict[str, Any]], key: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "status": "COMPLETE",
        "results": [{"subscriberIdString": email, key: statuses}],
        "startedAt": now,
        "completedAt": now,
    }


def test_later_opt_in_to_one_type_reads_its_own_subscribed(portal: Portal):
    """A type SUBSCRIBED strictly after the opt-out of all reads SUBSCRIBED; older ones do not.

    The sandbox lifts the opt-out of all on any resubscribe, so v4's answers are mocked (respx);
    the contact itself, flagged hs_email_optout, comes from the sandbox through the SDK.
    """
    record_id, email = _fresh(portal)
    portal.act("unsubscribe_all", id=record_id)
    base = portal.env["HUBSPOT_BASE_URL"].rstrip("/")
    wide_at, later, earlier = (
        "2025-03-01T10:00:00.000Z",
        "2025-03-01T10:00:00.001Z",
        "2025-03-01T09:59:59.999Z",
    )
    statuses = [
        {
            "subscriptionId": 1001,
            "status": "SUBSCRIBED",
            "timestamp": later,
            "legalBasis": "CONSENT_WITH_NOTICE",
            "legalBasisExplanation": "preference centre",
            "source": "API",
            "channel": "EMAIL",
        },
        {"subscriptionId": 1002, "status": "SUBSCRIBED", "timestamp": earlier, "channel": "EMAIL"},
    ]
    wide = [
        {
            "channel": "EMAIL",
            "status": "UNSUBSCRIBED",
            "subscriberIdString": email,
            "timestamp": wide_at,
            "wideStatusType": "PORTAL_WIDE",
        }
    ]
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{base}/communication-preferences/v4/statuses/batch/read").mock(
            return_value=httpx.Response(200, json=_v4_answer(email, statuses, "statuses"))
        )
        mock.post(f"{base}/communication-preferences/v4/statuses/batch/unsubscribe-all/read").mock(
            return_value=httpx.Response(200, json=_v4_answer(email, wide, "wideStatuses"))
        )
        (record,) = _two(portal).read("contacts", [record_id])
    assert record.fields["marketing_email"] == "SUBSCRIBED"
    assert record.field_times["marketing_email"] == parse_hs_datetime(later)
    assert record.field_evidence["marketing_email"]["legal_basis"] == "CONSENT_WITH_NOTICE"
    assert record.fields["product_email"] == "UNSUBSCRIBED"
    assert record.field_times["product_email"] == parse_hs_datetime(wide_at)
    assert record.field_evidence["product_email"] == {
        "collection_method": "unsubscribe_all",
        "wide_status_type": "PORTAL_WIDE",
    }


def test_same_instant_opt_in_does_not_outrank_the_opt_out_of_all(portal: Portal):
    """A SUBSCRIBED stamped exactly at the opt-out of all is not later: it reads UNSUBSCRIBED."""
    record_id, email = _fresh(portal)
    portal.act("unsubscribe_all", id=record_id)
    base = portal.env["HUBSPOT_BASE_URL"].rstrip("/")
    stamp = "2025-03-01T10:00:00.000Z"
    statuses = [{"subscriptionId": 1001, "status": "SUBSCRIBED", "timestamp": stamp}]
    wide = [{"channel": "EMAIL", "status": "UNSUBSCRIBED", "timestamp": stamp}]
    with respx.mock() as mock:
        mock.post(f"{base}/communication-preferences/v4/statuses/batch/read").mock(
            return_value=httpx.Response(200, json=_v4_answer(email, statuses, "statuses"))
        )
        mock.post(f"{base}/communication-preferences/v4/statuses/batch/unsubscribe-all/read").mock(
            return_value=httpx.Response(200, json=_v4_answer(email, wide, "wideStatuses"))
        )
        (record,) = _two(portal).read("contacts", [record_id])
    assert record.fields["marketing_email"] == "UNSUBSCRIBED"


def test_unsubscribe_all_push_sends_one_call_for_a_full_opt_out(portal: Portal):
    """With push on, unsubscribing every mapped type goes out as one batch unsubscribe-all."""
    everything, _ = _fresh(portal)
    one_type, _ = _fresh(portal)
    connector = _two(portal, unsubscribe_all_push=True)
    portal.reset_stats()
    results = connector.write(
        "contacts",
        [
            FieldWrite(everything, {"marketing_email": "UNSUBSCRIBED"}),
            FieldWrite(everything, {"product_email": "UNSUBSCRIBED"}),
            FieldWrite(one_type, {"marketing_email": "UNSUBSCRIBED"}),
        ],
    )
    assert results == [
        WriteResult(everything, True),
        WriteResult(everything, True),
        WriteResult(one_type, True),
    ]
    assert portal.requests(UNSUBSCRIBE_ALL) == 1
    assert portal.requests(V4_WRITE) == 1  # the contact unsubscribed from one type only
    assert portal.contact(everything)["properties"]["hs_email_optout"] == "true"
    held = portal.contact(one_type)
    assert held["properties"]["hs_email_optout"] == "false"
    assert held["subscriptions"]["1001"]["status"] == "UNSUBSCRIBED"
    (record,) = connector.read("contacts", [everything])
    assert all(record.fields[name] == "UNSUBSCRIBED" for name in TWO)


def test_without_push_a_full_opt_out_goes_out_per_type(portal: Portal):
    """Push off (the default): every type is written on its own and no unsubscribe-all is sent."""
    record_id, _ = _fresh(portal)
    portal.reset_stats()
    (result,) = _two(portal).write(
        "contacts",
        [FieldWrite(record_id, ALL_OUT)],
    )
    assert result.ok
    assert portal.requests(UNSUBSCRIBE_ALL) == 0 and portal.requests(V4_WRITE) == 1
    held = portal.contact(record_id)
    assert held["properties"]["hs_email_optout"] == "false"
    assert {held["subscriptions"][s]["status"] for s in ("1001", "1002")} == {"UNSUBSCRIBED"}


def test_push_with_a_grant_beside_an_opt_out_is_not_an_unsubscribe_all(portal: Portal):
    """Unsubscribe-all is sent only when every mapped type is UNSUBSCRIBED, never over a grant."""
    record_id, _ = _fresh(portal)
    portal.reset_stats()
    (result,) = _two(portal, unsubscribe_all_push=True).write(
        "contacts",
        [
            FieldWrite(
                record_id,
                {"marketing_email": "UNSUBSCRIBED", "product_email": "SUBSCRIBED"},
                "legitimate_interest",
                "existing customer",
            )
        ],
    )
    assert result.ok
    assert portal.requests(UNSUBSCRIBE_ALL) == 0
    subscriptions = portal.contact(record_id)["subscriptions"]
    assert subscriptions["1001"]["status"] == "UNSUBSCRIBED"
    assert subscriptions["1002"]["status"] == "SUBSCRIBED"


def test_unsubscribe_all_for_an_unknown_contact_is_gone_and_sends_nothing(portal: Portal):
    """v4 would create a contact for an unknown address; unsubscribe-all is never sent blind."""
    portal.reset_stats()
    (result,) = _two(portal, unsubscribe_all_push=True).write(
        "contacts",
        [FieldWrite("987654321", ALL_OUT)],
    )
    assert not result.ok and result.gone
    assert portal.requests(UNSUBSCRIBE_ALL) == 0


def test_unsubscribe_all_transient_failure_is_retried(portal: Portal):
    """A 503 from batch unsubscribe-all is retried and the opt-out lands."""
    record_id, _ = _fresh(portal)
    portal.faults({"path": "statuses/batch/unsubscribe-all$", "status": 503, "times": 1})
    portal.reset_stats()
    (result,) = _two(portal, unsubscribe_all_push=True).write(
        "contacts",
        [FieldWrite(record_id, ALL_OUT)],
    )
    assert result.ok
    assert portal.requests(UNSUBSCRIBE_ALL, 503) == 1 and portal.requests(UNSUBSCRIBE_ALL, 200) == 1
    assert portal.contact(record_id)["properties"]["hs_email_optout"] == "true"


@pytest.mark.parametrize("push", [False, True])
def test_factory_passes_the_mappings_unsubscribe_all_push(portal: Portal, push: bool):
    """`unsubscribe_all: {push: …}` on the contacts mapping reaches the connector's settings."""
    config = load_config(REPO, env=portal.env, systems=("hubspot",))
    mapping = config.mappings["hubspot"]
    contacts = mapping.objects["contacts"].model_copy(
        update={"unsubscribe_all": UnsubscribeAll(push=push)}
    )
    changed = mapping.model_copy(update={"objects": {**mapping.objects, "contacts": contacts}})
    connector = build_connector(config.connectors["hubspot"], changed)
    try:
        assert isinstance(connector, HubSpotConnector)
        assert connector.settings.unsubscribe_all_push is push
        assert "hs_email_optout" in connector._properties()
    finally:
        connector.close()


def test_factory_without_unsubscribe_all_does_not_push_it(portal: Portal):
    """A contacts mapping without `unsubscribe_all` never sends an unsubscribe-all."""
    config = load_config(REPO, env=portal.env, systems=("hubspot",))
    mapping = config.mappings["hubspot"]
    contacts = mapping.objects["contacts"].model_copy(update={"unsubscribe_all": None})
    changed = mapping.model_copy(update={"objects": {**mapping.objects, "contacts": contacts}})
    connector = build_connector(config.connectors["hubspot"], changed)
    try:
        assert isinstance(connector, HubSpotConnector)
        assert connector.settings.unsubscribe_all_push is False
    finally:
        connector.close()
