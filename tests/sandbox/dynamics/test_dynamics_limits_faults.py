"""Service protection limits and injected faults, seen by a plain OData client."""

from __future__ import annotations

import json

import httpx
import pytest

from support.dynamics_emulator import Sandbox

LIST = "/api/data/v9.2/contacts$"


def _fault(control: httpx.Client, **rule: object) -> None:
    control.put("/_sandbox/faults", json={"rules": [{"path": LIST, **rule}]}).raise_for_status()


def test_over_the_request_limit_is_429_with_retry_after_and_its_code(
    api: httpx.Client, control: httpx.Client
) -> None:
    """Past the per-user request limit: 429, Retry-After in seconds, code 0x80072322; under it,
    responses count down x-ms-ratelimit-burst-remaining-xrm-requests."""
    control.put("/_sandbox/limits", json={"requests_per_window": 3, "window_seconds": 120})
    remaining = [
        api.get("/contacts", params={"$top": "1"}).headers[
            "x-ms-ratelimit-burst-remaining-xrm-requests"
        ]
        for _ in range(3)
    ]
    assert remaining == ["2", "1", "0"]
    refused = api.get("/contacts", params={"$top": "1"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 120
    assert refused.json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 3 over time window of 120 seconds.",
    }


def test_limits_are_per_user_and_reset_when_changed(
    sandbox: Sandbox, api: httpx.Client, control: httpx.Client
) -> None:
    """Limits count per user; `PUT /_sandbox/limits` starts afresh."""
    control.put("/_sandbox/limits", json={"requests_per_window": 1})
    assert api.get("/contacts", params={"$top": "1"}).status_code == 200
    assert api.get("/contacts", params={"$top": "1"}).status_code == 429
    control.put("/_sandbox/limits", json={"requests_per_window": 1})
    assert api.get("/contacts", params={"$top": "1"}).status_code == 200


def test_injected_429_and_503_carry_dataverse_bodies(
    api: httpx.Client, control: httpx.Client
) -> None:
    """Injected statuses answer in the OData error shape, 429 with the given Retry-After."""
    _fault(control, status=429, retry_after="7", times=1)
    limited = api.get("/contacts")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert limited.json()["error"]["code"] == "0x80072322"
    _fault(control, status=503, times=1)
    unavailable = api.get("/contacts")
    assert unavailable.status_code == 503 and "message" in unavailable.json()["error"]
    assert api.get("/contacts", params={"$top": "1"}).status_code == 200


def test_dropped_connection_and_malformed_body(api: httpx.Client, control: httpx.Client) -> None:
    """A cut connection is a transport error; a malformed body is not JSON."""
    _fault(control, kind="drop", times=1)
    with pytest.raises(httpx.TransportError):
        api.get("/contacts")
    _fault(control, kind="malformed", times=1)
    with pytest.raises(json.JSONDecodeError):
        api.get("/contacts").json()


def test_injected_timeout_stalls_until_the_client_gives_up(
    sandbox: Sandbox, token: str, control: httpx.Client
) -> None:
    """A timeout rule holds the answer back longer than a client waits."""
    _fault(control, kind="timeout", delay=5, times=1)
    with sandbox.api(token) as api, pytest.raises(httpx.ReadTimeout):
        api.get("/contacts", timeout=0.3)


def test_stats_count_api_routes_but_not_sandbox_calls(
    sandbox: Sandbox, api: httpx.Client, control: httpx.Client
) -> None:
    """The meter counts Web API requests per route template and status."""
    row = api.get("/contacts", params={"$top": "1"}).json()["value"][0]
    control.delete("/_sandbox/stats")
    api.get(f"/contacts({row['contactid']})")
    api.get("/contacts", params={"$top": "1"})
    control.get("/_sandbox/contacts", params={"id": row["contactid"]})
    stats = control.get("/_sandbox/stats").json()
    assert stats["endpoints"]["GET /api/data/v{version}/contacts({key})"] == {"200": 1}
    assert stats["endpoints"]["GET /api/data/v{version}/contacts"] == {"200": 1}
    assert stats["total"] == 2
