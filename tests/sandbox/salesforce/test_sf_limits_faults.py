"""The API meter, quota enforcement and injected faults, as simple-salesforce sees them."""

from __future__ import annotations

import httpx
import pytest
import requests
from simple_salesforce import Salesforce, SalesforceGeneralError, SalesforceRefusedRequest


def _capture(sf: Salesforce) -> list[requests.Response]:
    """Record every raw response the client receives (headers simple-salesforce drops)."""
    seen: list[requests.Response] = []
    sf.session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response))
    return seen


def test_limit_info_header_and_limits_resource(sf: Salesforce, control: httpx.Client) -> None:
    """Every API response carries Sforce-Limit-Info; /limits reports DailyApiRequests."""
    control.put("/_sandbox/api-usage", json={"used": 41, "daily_limit": 1000}).raise_for_status()
    sf.query("SELECT Id FROM Contact LIMIT 1")
    assert sf.api_usage["api-usage"].used == 42
    assert sf.api_usage["api-usage"].total == 1000
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 1000, "Remaining": 1000 - 43}


def test_quota_exhaustion_is_request_limit_exceeded(sf: Salesforce, control: httpx.Client) -> None:
    """Past the daily limit every call answers 403 REQUEST_LIMIT_EXCEEDED."""
    control.put("/_sandbox/api-usage", json={"used": 99, "daily_limit": 100}).raise_for_status()
    sf.query("SELECT Id FROM Contact LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Contact LIMIT 1")
    assert caught.value.status == 403
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_stats_count_api_calls_per_endpoint(sf: Salesforce, control: httpx.Client) -> None:
    """/_sandbox/stats counts each API call under its route template and status."""
    control.delete("/_sandbox/stats").raise_for_status()
    sf.query("SELECT Id FROM Contact LIMIT 1")
    sf.query("SELECT Id FROM Contact LIMIT 1")
    stats = control.get("/_sandbox/stats").json()
    assert stats["endpoints"]["GET /services/data/v{version}/query/"] == {"200": 2}
    assert stats["total"] == 2


def test_injected_429_carries_retry_after(sf: Salesforce, control: httpx.Client) -> None:
    """A 429 fault answers REQUEST_LIMIT_EXCEEDED with the configured Retry-After."""
    rule = {"path": "/query", "status": 429, "retry_after": "7", "times": 1}
    control.put("/_sandbox/faults", json={"rules": [rule]}).raise_for_status()
    seen = _capture(sf)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Contact LIMIT 1")
    assert caught.value.status == 429
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert seen[-1].headers["Retry-After"] == "7"
    assert sf.query("SELECT Id FROM Contact LIMIT 1")["totalSize"] == 1  # `times` ran out


def test_injected_503_is_server_unavailable(sf: Salesforce, control: httpx.Client) -> None:
    """A 503 fault answers Salesforce's SERVER_UNAVAILABLE body."""
    control.put("/_sandbox/faults", json={"rules": [{"status": 503}]}).raise_for_status()
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Contact.describe()
    assert caught.value.status == 503
    assert caught.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_dropped_connection_surfaces_as_transport_error(
    sf: Salesforce, control: httpx.Client
) -> None:
    """A dropped connection reaches the caller as a requests transport error."""
    control.put("/_sandbox/faults", json={"rules": [{"kind": "drop"}]}).raise_for_status()
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        sf.query("SELECT Id FROM Contact LIMIT 1")


def test_malformed_body_fails_to_decode(sf: Salesforce, control: httpx.Client) -> None:
    """A truncated JSON body with status 200 fails to decode in the client."""
    control.put("/_sandbox/faults", json={"rules": [{"kind": "malformed"}]}).raise_for_status()
    with pytest.raises(requests.exceptions.JSONDecodeError):
        sf.query("SELECT Id FROM Contact LIMIT 1")


def test_stalled_response_times_out(sf: Salesforce, control: httpx.Client) -> None:
    """A stalled response trips the client's read timeout."""
    rule = {"kind": "timeout", "delay": 1.5}
    control.put("/_sandbox/faults", json={"rules": [rule]}).raise_for_status()
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.query("SELECT Id FROM Contact LIMIT 1", timeout=0.3)


def test_batch_failure_rate_fails_some_records(sf: Salesforce, control: httpx.Client) -> None:
    """batch_failure_rate makes that share of collection records fail with UNABLE_TO_LOCK_ROW."""
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 200")["records"]]
    faults = {"batch_failure_rate": 0.5, "seed": 3}
    control.put("/_sandbox/faults", json=faults).raise_for_status()
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "id": i, "Phone": "+1555"} for i in ids
            ],
        },
    )
    failed = [r for r in results if not r["success"]]
    assert 50 < len(failed) < 150
    assert {r["errors"][0]["statusCode"] for r in failed} == {"UNABLE_TO_LOCK_ROW"}
