"""HubSpot's rate limits: headers on every response, 429 bodies per policy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException

from support.hubspot_emulator import Sandbox


@pytest.fixture
def limits(http: httpx.Client) -> Iterator[Any]:
    """Set tight limits for one test, restoring the module's afterwards."""
    original = http.get("/_sandbox/limits").json()

    def set_limits(**values: int) -> None:
        response = http.put("/_sandbox/limits", json={**original, **values})
        assert response.status_code == 200

    yield set_limits
    http.put("/_sandbox/limits", json=original)


def test_responses_carry_rate_limit_headers(http: httpx.Client, limits: Any) -> None:
    """Each API response states the window's max, what remains, the interval and daily quota."""
    limits(max_per_interval=50, interval_ms=10_000, daily=1000)
    first = http.get("/crm/v3/objects/contacts", params={"limit": 1})
    second = http.get("/crm/v3/objects/contacts", params={"limit": 1})
    assert first.headers["X-HubSpot-RateLimit-Max"] == "50"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "1000"
    assert int(second.headers["X-HubSpot-RateLimit-Remaining"]) == (
        int(first.headers["X-HubSpot-RateLimit-Remaining"]) - 1
    )
    assert int(second.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 998


def test_ten_secondly_limit_answers_429_with_policy(api: Any, limits: Any) -> None:
    """Past the rolling window's max, the client gets 429 RATE_LIMITS / TEN_SECONDLY_ROLLING."""
    limits(max_per_interval=3)
    for _ in range(3):
        api.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as caught:
        api.crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 429
    body = json.loads(caught.value.body)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["category"] == "RATE_LIMITS"
    assert body["errorType"] == "RATE_LIMIT"
    assert caught.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_search_has_its_own_secondly_limit(api: Any, limits: Any) -> None:
    """Searches beyond the per-second search rate get 429 SECONDLY while other calls still pass."""
    limits(search_per_second=2)
    search = api.crm.contacts.search_api
    search.do_search(PublicObjectSearchRequest(limit=1))
    search.do_search(PublicObjectSearchRequest(limit=1))
    with pytest.raises(ApiException) as caught:
        search.do_search(PublicObjectSearchRequest(limit=1))
    assert caught.value.status == 429
    assert json.loads(caught.value.body)["policyName"] == "SECONDLY"
    assert api.crm.contacts.basic_api.get_page(limit=1).results


def test_daily_quota_is_enforced(sandbox: Sandbox, limits: Any) -> None:
    """Once the daily quota is used up, calls get 429 with policy DAILY."""
    limits(daily=1)
    with sandbox.http() as fresh:
        allowed = fresh.get("/crm/v3/objects/contacts", params={"limit": 1})
        assert allowed.status_code == 200
        assert allowed.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        refused = fresh.get("/crm/v3/objects/contacts", params={"limit": 1})
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"


def test_window_rolls_so_capacity_returns(http: httpx.Client, limits: Any) -> None:
    """Requests older than the interval leave the rolling window, so calls pass again."""
    limits(max_per_interval=2, interval_ms=400)
    statuses = [
        http.get("/crm/v3/objects/contacts", params={"limit": 1}).status_code for _ in "abc"
    ]
    assert statuses == [200, 200, 429]
    time.sleep(0.45)  # the scenario: the 400 ms window passes; nothing to poll without spending it
    assert http.get("/crm/v3/objects/contacts", params={"limit": 1}).status_code == 200
