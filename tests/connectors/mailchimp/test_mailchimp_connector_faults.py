"""The fault matrix for the shipped Mailchimp connector, through the emulator's fault injection:
a refused key, 429 storms with Retry-After, 5xx, timeouts, cut connections, malformed bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import AuthError, TransientError
from consent_sync.domain.records import FieldWrite
from support.mailchimp_audience import BATCH, FAST_RETRY, MEMBERS, Audience, shipped_config
from support.waiting import wait_for

CONTACTS = 1200
LISTING = r"/members$"
BATCH_PATH = r"^/3\.0/lists/[^/]+$"
TRANSIENT = [
    {"kind": "status", "status": 503},
    {"kind": "status", "status": 500},
    {"kind": "drop"},
    {"kind": "malformed"},
    {"kind": "timeout", "delay": 2.5},
]
#: The client's read timeout: below the injected stall, well above a 1,000-member page on a
#: loaded machine (a page read twice would count one request too many).
TIMEOUT = 1.0
TRANSIENT_IDS = ["503", "500", "drop", "malformed", "timeout"]


def _eventually(audience: Audience, endpoint: str, expected: int) -> int:
    """Requests to `endpoint` once `expected` have finished (a stalled one is counted when the
    emulator gives up on it, after the client has); cut and garbled answers count as 200."""
    wait_for(lambda: audience.requests(endpoint) >= expected, 8.0, endpoint, every=0.05)
    return audience.requests(endpoint)


def _first_page(audience: Audience, **options: Any) -> int:
    page = next(iter(audience.connector(**options).pull("members", None)))
    return len(page.records)


def _unsubscribe(audience: Audience, email: str) -> FieldWrite:
    return FieldWrite(audience.member(email)["id"], {"status": "unsubscribed"}, email=email.lower())


def test_a_refused_key_is_an_auth_error_that_never_shows_the_key(audience: Audience) -> None:
    """A wrong API key raises AuthError at once (no retries); the key is not in the message."""
    key = "0123456789abcdef0123456789abcdef-us21"
    config = shipped_config({**audience.env, "MAILCHIMP_API_KEY": key})
    connector = build_connector(
        config.connectors["mailchimp"], config.mappings["mailchimp"], retry=FAST_RETRY
    )
    audience.reset_stats()
    try:
        with pytest.raises(AuthError) as caught:
            next(iter(connector.pull("members", None)))
    finally:
        connector.close()
    assert key not in str(caught.value)
    assert caught.value.status == 401
    assert audience.requests(MEMBERS) == 1


def test_a_429_storm_with_retry_after_is_waited_out(audience: Audience) -> None:
    """Three 429s with Retry-After are each waited for, then the page arrives."""
    audience.faults({"path": LISTING, "status": 429, "retry_after": "0.2", "times": 3})
    audience.reset_stats()
    assert _first_page(audience) == 1000
    assert audience.requests(MEMBERS, 429) == 3
    assert audience.requests(MEMBERS, 200) == 1


def test_an_endless_429_storm_gives_up_after_the_policy_attempts(audience: Audience) -> None:
    """A 429 that never ends is a TransientError once the retry policy's attempts are spent."""
    audience.faults({"path": LISTING, "status": 429, "retry_after": "0"})
    audience.reset_stats()
    with pytest.raises(TransientError):
        _first_page(audience)
    assert audience.requests(MEMBERS) == 4  # FAST_RETRY's attempts, no more


@pytest.mark.parametrize("rule", TRANSIENT, ids=TRANSIENT_IDS)
def test_transient_faults_on_the_listing_are_retried(
    audience: Audience, rule: dict[str, Any]
) -> None:
    """5xx, cut connections, malformed bodies and timeouts: retried, then the page arrives."""
    audience.faults({**rule, "path": LISTING, "times": 2})
    audience.reset_stats()
    assert _first_page(audience, timeout=TIMEOUT) == 1000
    assert _eventually(audience, MEMBERS, 3) == 3  # two faulted, one answered


@pytest.mark.parametrize("rule", TRANSIENT, ids=TRANSIENT_IDS)
def test_transient_faults_on_the_batch_write_are_retried(
    audience: Audience, rule: dict[str, Any]
) -> None:
    """A batch write that meets a fault is sent again and lands once."""
    email = audience.first(status="transactional")["email_address"]
    audience.faults({**rule, "path": BATCH_PATH, "method": "POST", "times": 2})
    audience.reset_stats()
    (result,) = audience.connector(timeout=TIMEOUT).write(
        "members", [_unsubscribe(audience, email)]
    )
    assert result.ok, result
    assert audience.member(email)["status"] == "unsubscribed"
    assert _eventually(audience, BATCH, 3) == 3  # two faulted, one answered


def test_a_batch_write_that_keeps_failing_is_left_for_a_later_cycle(audience: Audience) -> None:
    """When every attempt fails, the write is reported retryable (or raised as transient):
    nothing is dead-lettered and nothing was written."""
    email = audience.first(status="transactional")["email_address"]
    audience.faults({"path": BATCH_PATH, "method": "POST", "status": 503})
    connector = audience.connector()
    try:
        results = connector.write("members", [_unsubscribe(audience, email)])
    except TransientError:
        pass
    else:
        assert [(r.ok, r.retryable) for r in results] == [(False, True)]
    audience.clear_faults()
    assert audience.member(email)["status"] == "transactional"


def test_idle_pull_costs_one_call(audience: Audience) -> None:
    """Nothing changed since the cursor: one listing call, no records."""
    audience.reset_stats()
    pages = list(audience.connector().pull("members", datetime.now(UTC)))
    assert sum(len(p.records) for p in pages) == 0
    assert audience.requests(MEMBERS) == 1
