"""What HubSpot throws: bad tokens, 429 storms, 5xx, cut connections, garbage, quotas, CAs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from consent_sync.connectors.protocol import (
    AuthError,
    PermanentError,
    QuotaExhausted,
    TransientError,
)
from support.hubspot_portal import FAST_RETRY, Portal, pulled_since, records
from support.waiting import wait_for

LIST = "GET /crm/v3/objects/contacts"
SEARCH = "POST /crm/v3/objects/contacts/search"
V4_READ = "POST /communication-preferences/v4/statuses/batch/read"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _eventually(portal: Portal, endpoint: str, expected: int, within: float = 3.0) -> int:
    """Requests to `endpoint`, once `expected` have finished (a stalled one is counted late)."""
    wait_for(
        lambda: portal.requests(endpoint) >= expected,
        within,
        f"{expected} requests to {endpoint}",
        every=0.05,
    )
    return portal.requests(endpoint)


def _first_page(portal: Portal, **overrides: object) -> int:
    """Pull one listing page; the number of records it held."""
    page = next(iter(portal.connector(**overrides).pull("contacts", None)))
    return len(page.records)


def test_refused_token_is_an_auth_error_that_never_shows_the_token(portal: Portal):
    """A 401 raises AuthError at once (no retries), and the token is nowhere in the message."""
    token = "pat-na1-00000000-dead-4bee-8000-000000000000"
    portal.reset_stats()
    with pytest.raises(AuthError) as caught:
        _first_page(portal, access_token=token, subscriptions={"marketing_email": "1001"})
    assert token not in str(caught.value)
    assert caught.value.status == 401
    assert portal.requests(LIST) == 1


def test_429_storm_with_retry_after_is_waited_out(portal: Portal):
    """Three 429s with Retry-After are each waited for, then the call succeeds."""
    portal.faults(
        {"path": "^/crm/v3/objects/contacts$", "status": 429, "retry_after": "0.2", "times": 3}
    )
    portal.reset_stats()
    started = time.monotonic()
    assert _first_page(portal) == 100
    assert time.monotonic() - started >= 0.6
    assert portal.requests(LIST, 429) == 3 and portal.requests(LIST, 200) == 1


def test_endless_429_storm_gives_up_after_the_policy_attempts(portal: Portal):
    """Retries are bounded: an endless storm costs exactly `attempts` requests, then raises."""
    portal.faults({"path": "^/crm/v3/objects/contacts$", "status": 429, "retry_after": "0.01"})
    portal.reset_stats()
    with pytest.raises(TransientError) as caught:
        _first_page(portal)
    assert caught.value.status == 429
    assert portal.requests(LIST) == FAST_RETRY.attempts


def test_search_rate_limit_429_is_retried_until_the_pull_completes(portal: Portal):
    """Over the search limit (SECONDLY, no Retry-After) the connector waits and reads everything."""
    since = records(list(portal.connector().pull("contacts", None)))[-400].modified_at
    portal.limits(search_per_second=1)
    portal.reset_stats()
    pulled = pulled_since(portal.connector(subscriptions={}), since)
    assert len(pulled) >= 400
    assert portal.requests(SEARCH, 429) >= 1


def test_client_side_search_budget_keeps_under_the_portals_limit(portal: Portal):
    """With the default 4 searches/s budget, a portal allowing 5/s never answers 429."""
    since = records(list(portal.connector().pull("contacts", None)))[-1400].modified_at
    portal.limits(search_per_second=5)
    portal.reset_stats()
    pulled = pulled_since(portal.connector(subscriptions={}, searches_per_second=4.0), since)
    assert len(pulled) >= 1400
    assert portal.requests(SEARCH) >= 7
    assert portal.requests(SEARCH, 429) == 0


def test_daily_quota_exhaustion_is_not_retried(portal: Portal):
    """A DAILY 429 raises QuotaExhausted after one request: the work waits for tomorrow."""
    portal.limits(daily=1)
    portal.reset_stats()
    connector = portal.connector(subscriptions={"marketing_email": "1001"})
    connector.describe("contacts")
    with pytest.raises(QuotaExhausted):
        next(iter(connector.pull("contacts", None)))
    assert portal.requests(LIST) == 1


def test_quota_is_read_from_rate_limit_headers(portal: Portal):
    """Daily usage from X-HubSpot-RateLimit-Daily(-Remaining) is exposed by quota()."""
    portal.limits(daily=1000)
    connector = portal.connector()
    _ = next(iter(connector.pull("contacts", None)))
    quota = connector.quota()
    assert quota.limit == 1000 and quota.used is not None and quota.used >= 3


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 500},
        {"kind": "drop"},
        {"kind": "malformed"},
        {"kind": "timeout", "delay": 0.8},
    ],
    ids=["503", "500", "drop", "malformed", "timeout"],
)
@pytest.mark.parametrize(
    ("path", "endpoint"),
    [("^/crm/v3/objects/contacts$", LIST), ("statuses/batch/read", V4_READ)],
    ids=["sdk", "v4"],
)
def test_transient_faults_are_retried_on_both_clients(
    portal: Portal, rule: dict[str, object], path: str, endpoint: str
):
    """5xx, cut connections, malformed bodies and timeouts: retried, then the page arrives."""
    portal.faults({**rule, "path": path, "times": 2})
    portal.reset_stats()
    assert _first_page(portal, timeout=0.3) == 100
    assert _eventually(portal, endpoint, 3) == 3


def test_configured_ca_wins_over_ca_environment_variables(
    portal: Portal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """With CA variables pointing at the sandbox CA, a connector given another CA still refuses."""
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, portal.env["HUBSPOT_CA_FILE"])
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    retry = FAST_RETRY.__class__(attempts=1)
    sdk_first = portal.connector(
        ca_file=str(stranger), subscriptions={"marketing_email": "1001"}, retry=retry
    )
    with pytest.raises(TransientError):
        next(iter(sdk_first.pull("contacts", None)))
    httpx_first = portal.connector(ca_file=str(stranger), retry=retry)
    with pytest.raises(TransientError):
        next(iter(httpx_first.pull("contacts", None)))
    assert _first_page(portal) == 100  # the configured sandbox CA, whatever the environment says


def test_unreadable_ca_file_is_a_permanent_error_naming_it(portal: Portal, tmp_path: Path):
    """A missing ca_file fails at construction with the path in the message, not at first call."""
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(PermanentError, match=r"nowhere\.pem"):
        portal.connector(ca_file=str(missing))
