"""The sandbox's fault matrix: what is retried, how often, and what surfaces as which error."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from consent_sync.connectors.protocol import (
    AuthError,
    FieldWrite,
    PermanentError,
    QuotaExhausted,
    TransientError,
)
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from support.salesforce_org import FAST_RETRY, MakeConnector, requests_to
from support.waiting import wait_for

DESCRIBE = "GET /services/data/v{version}/sobjects/{name}/describe"
QUERY = "GET /services/data/v{version}/queryAll/"
PATCH = "PATCH /services/data/v{version}/composite/sobjects"
TOKEN = "POST /services/oauth2/token"
CONCURRENT = "ConcurrentPerOrgLongTxn Limit exceeded."


def _fault(control: httpx.Client, **config: Any) -> None:
    control.put("/_sandbox/faults", json=config).raise_for_status()


def _ready(connector: SalesforceConnector, control: httpx.Client) -> None:
    """Log in and warm the connection, then zero the request counts."""
    connector.describe("Contact")
    control.delete("/_sandbox/stats").raise_for_status()


@pytest.mark.parametrize(
    "rule",
    [
        {"status": 500},
        {"status": 503},
        {"status": 429},
        {"kind": "drop"},
        {"kind": "malformed"},
        {"status": 403, "body": [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": CONCURRENT}]},
        {"status": 400, "body": [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "row locked"}]},
    ],
    ids=["500", "503", "429", "drop", "malformed", "concurrency-limit", "row-lock"],
)
def test_transient_faults_are_retried_until_they_clear(
    connector: SalesforceConnector, control: httpx.Client, rule: dict[str, Any]
) -> None:
    """5xx, 429, dropped connections, malformed bodies, the concurrency limit and row locks are
    retried; the pull then succeeds."""
    _ready(connector, control)
    _fault(control, rules=[{"path": "/queryAll", **rule, "times": FAST_RETRY.attempts - 1}])
    pages = list(connector.pull("Lead", None))
    assert sum(len(p.records) for p in pages) == 0
    assert requests_to(control, QUERY) == FAST_RETRY.attempts


@pytest.mark.parametrize("rule", [{"status": 503}, {"kind": "drop"}], ids=["503", "drop"])
def test_retries_are_bounded(
    connector: SalesforceConnector, control: httpx.Client, rule: dict[str, Any]
) -> None:
    """A fault that never clears raises TransientError after exactly `attempts` requests."""
    _ready(connector, control)
    _fault(control, rules=[{"path": "/describe", **rule}])
    with pytest.raises(TransientError):
        connector.describe("Lead")
    assert requests_to(control, DESCRIBE) == FAST_RETRY.attempts


def test_retry_after_is_honoured(connector: SalesforceConnector, control: httpx.Client) -> None:
    """A 429 with Retry-After: 1 makes the connector wait about a second before the retry."""
    _ready(connector, control)
    _fault(control, rules=[{"path": "/describe", "status": 429, "retry_after": "1", "times": 1}])
    started = time.monotonic()
    connector.describe("Lead")
    assert 1.0 <= time.monotonic() - started < 2.0
    assert requests_to(control, DESCRIBE) == 2


def test_timeouts_are_retried(make_connector: MakeConnector, control: httpx.Client) -> None:
    """A request that stalls past the connector's timeout is abandoned and retried."""
    connector = make_connector(timeout=0.3)
    _ready(connector, control)
    _fault(control, rules=[{"path": "/describe", "kind": "timeout", "delay": 0.6, "times": 1}])
    started = time.monotonic()
    assert connector.describe("Lead")
    assert time.monotonic() - started < 0.6 + 0.5
    # The stalled request is counted when the server finishes it.
    wait_for(lambda: requests_to(control, DESCRIBE) >= 2, 5, "the stalled request to be counted")
    assert requests_to(control, DESCRIBE) == 2


def test_expired_session_reauthenticates_once(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """After every token expires, the next call fetches one new token and succeeds."""
    _ready(connector, control)
    _fault(control, expire_tokens=True)
    assert connector.describe("Lead")
    assert connector.describe("Contact")
    assert requests_to(control, TOKEN) == 1
    assert requests_to(control, DESCRIBE) == 3  # one refused, two served


def test_session_refused_after_reauth_is_auth_error(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """A 401 that persists after re-authenticating raises AuthError, not an endless loop."""
    _ready(connector, control)
    _fault(control, rules=[{"path": "/describe", "status": 401}])
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        connector.describe("Lead")
    assert requests_to(control, TOKEN) == 1
    assert requests_to(control, DESCRIBE) == 2


def test_token_endpoint_outage_is_retried(
    make_connector: MakeConnector, control: httpx.Client
) -> None:
    """A 503 from the token endpoint is retried like any other call."""
    _fault(control, rules=[{"path": "/oauth2/token", "status": 503, "times": 1}])
    assert make_connector().describe("Lead")
    assert requests_to(control, TOKEN) == 2


def test_quota_exhaustion_is_not_retried(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """403 REQUEST_LIMIT_EXCEEDED raises QuotaExhausted after one request, for reads and
    writes alike."""
    _ready(connector, control)
    control.put("/_sandbox/api-usage", json={"used": 100, "daily_limit": 100})
    with pytest.raises(QuotaExhausted, match="REQUEST_LIMIT_EXCEEDED"):
        list(connector.pull("Contact", None))
    with pytest.raises(QuotaExhausted):
        connector.write("Contact", [FieldWrite("003Dn0000000001IAA", {"DoNotCall": True})])
    assert requests_to(control, QUERY) == 1
    assert requests_to(control, PATCH) == 1
    assert connector.quota().used == 100


def test_write_outage_leaves_every_record_retryable(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """A composite call that keeps failing returns retryable results instead of losing them."""
    _ready(connector, control)
    _fault(control, rules=[{"path": "/composite/sobjects", "status": 503}])
    ids = [r.record_id for r in next(connector.pull("Contact", None)).records[:3]]
    results = connector.write("Contact", [FieldWrite(i, {"DoNotCall": False}) for i in ids])
    assert [(r.record_id, r.ok, r.retryable) for r in results] == [(i, False, True) for i in ids]
    assert requests_to(control, PATCH) == FAST_RETRY.attempts


def test_latency_within_timeout_is_not_an_error(
    make_connector: MakeConnector, control: httpx.Client
) -> None:
    """Added latency below the timeout costs time, not retries."""
    connector = make_connector(timeout=2.0)
    _ready(connector, control)
    _fault(control, latency_ms=150)
    assert connector.describe("Lead")
    assert requests_to(control, DESCRIBE) == 1


def test_client_side_rate_budget_spaces_requests(
    make_connector: MakeConnector, control: httpx.Client
) -> None:
    """With a budget of 10 requests/s, a burst of 10 then 5 more calls takes about 0.5 s."""
    connector = make_connector(requests_per_second=10)
    started = time.monotonic()
    for _ in range(15):
        connector.describe("Lead")
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.5
    assert requests_to(control, DESCRIBE) == 15


def test_permanent_refusals_are_not_retried(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """A 404 or 400 answer (unknown sObject) raises PermanentError with its code, one request."""
    _ready(connector, control)
    with pytest.raises(PermanentError) as caught:
        connector.describe("Account__x")
    assert caught.value.code == "NOT_FOUND" and caught.value.status == 404
    assert requests_to(control, DESCRIBE) == 1
    with pytest.raises(PermanentError, match="not configured"):
        connector.read("Opportunity", ["006Dn0000000001"])
    with pytest.raises(PermanentError, match="not a Salesforce API name"):
        connector.describe("../limits")
    assert control.get("/_sandbox/stats").json()["total"] == 1
