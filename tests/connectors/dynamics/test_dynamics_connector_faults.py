"""The fault matrix for the shipped Dynamics connector, through the emulator's fault injection
and its service protection limits: refused and expired tokens, 429 with Retry-After, 5xx,
timeouts, cut connections, malformed bodies."""

from __future__ import annotations

from typing import Any

import pytest

from consent_sync.connectors.protocol import AuthError, TransientError
from consent_sync.domain.records import FieldWrite
from support.dynamics_org import BATCH, CONTACTS_LIST, FAST_RETRY, TOKEN, Org, shipped_config
from support.waiting import wait_for

CONTACTS = 1200
LISTING = r"^/api/data/v9\.2/contacts$"
BATCH_PATH = r"/\$batch$"
TRANSIENT = [
    {"kind": "status", "status": 503},
    {"kind": "status", "status": 500},
    {"kind": "drop"},
    {"kind": "malformed"},
    {"kind": "timeout", "delay": 0.8},
]
TRANSIENT_IDS = ["503", "500", "drop", "malformed", "timeout"]


def _count(org: Org, **options: Any) -> int:
    return sum(len(p.records) for p in org.connector(**options).pull("contacts", None))


def _eventually(org: Org, endpoint: str, expected: int) -> None:
    """Wait until `expected` requests to `endpoint` finished (a stalled one is counted late)."""
    wait_for(lambda: org.requests(endpoint) >= expected, 3.0, f"{expected} requests", every=0.05)


def _ids(org: Org, n: int) -> list[str]:
    records = [r for p in org.connector().pull("contacts", None) for r in p.records]
    return [r.record_id for r in records if r.fields["donotbulkemail"] is False][:n]


def test_a_refused_client_secret_is_an_auth_error_that_never_shows_it(org: Org) -> None:
    """A wrong secret: AuthError after one token request; the secret is not in the message."""
    secret = "wr0ng~client.secret_value"
    config = shipped_config({**org.env, "DYNAMICS_CLIENT_SECRET": secret})
    org.reset_stats()
    with pytest.raises(AuthError) as caught:
        next(iter(org.connector(config=config).pull("contacts", None)))
    assert secret not in str(caught.value)
    assert org.requests(TOKEN) == 1
    assert org.requests(CONTACTS_LIST) == 0


def test_an_expired_token_is_refreshed_once_and_the_read_goes_on(org: Org) -> None:
    """Tokens expired under it: one 401, one new token, then the pull completes."""
    connector = org.connector()
    assert sum(len(p.records) for p in connector.pull("contacts", None)) == CONTACTS
    org.faults(expire_tokens=True)
    org.reset_stats()
    assert sum(len(p.records) for p in connector.pull("contacts", None)) == CONTACTS
    assert org.requests(CONTACTS_LIST, 401) == 1
    assert org.requests(TOKEN) == 1
    assert org.requests(CONTACTS_LIST, 200) == 1


def test_a_429_storm_with_retry_after_is_waited_out(org: Org) -> None:
    """Three 429s with Retry-After: each waited for, then the contacts arrive."""
    org.faults({"path": LISTING, "status": 429, "retry_after": "0.2", "times": 3})
    org.reset_stats()
    assert _count(org) == CONTACTS
    assert org.requests(CONTACTS_LIST, 429) == 3
    assert org.requests(CONTACTS_LIST, 200) == 1


def test_an_endless_429_storm_gives_up_after_the_policy_attempts(org: Org) -> None:
    """A 429 that never ends is a TransientError once the retry policy's attempts are spent."""
    org.faults({"path": LISTING, "status": 429, "retry_after": "0"})
    org.reset_stats()
    with pytest.raises(TransientError) as caught:
        _count(org)
    assert caught.value.status == 429
    assert org.requests(CONTACTS_LIST) == FAST_RETRY.attempts


def test_service_protection_limits_are_waited_out(org: Org) -> None:
    """Over the real per-user limit (429, Retry-After, 0x80072322) the reads wait and finish."""
    ids = _ids(org, 250)
    connector = org.connector()
    connector.read("contacts", ids[:1])  # the token is fetched before the limit bites
    org.control.put("/_sandbox/limits", json={"requests_per_window": 2, "window_seconds": 1})
    org.reset_stats()
    got = connector.read("contacts", ids)
    assert sorted(r.record_id for r in got) == sorted(ids)
    assert org.requests(CONTACTS_LIST, 429) >= 1
    assert org.requests(CONTACTS_LIST, 200) == 3


@pytest.mark.parametrize("rule", TRANSIENT, ids=TRANSIENT_IDS)
def test_transient_faults_on_the_listing_are_retried(org: Org, rule: dict[str, Any]) -> None:
    """5xx, cut connections, malformed bodies and timeouts on a read: retried, then it lands."""
    org.faults({**rule, "path": LISTING, "times": 2})
    org.reset_stats()
    assert _count(org, timeout=0.3) == CONTACTS
    _eventually(org, CONTACTS_LIST, 3)
    assert org.requests(CONTACTS_LIST) == 3


@pytest.mark.parametrize("rule", TRANSIENT, ids=TRANSIENT_IDS)
def test_transient_faults_on_a_batch_are_retried(org: Org, rule: dict[str, Any]) -> None:
    """The same faults on `$batch`: never a lost or a dead update. The batch is sent again, or
    (an answer that does not parse, which may follow an applied batch) its updates come back
    retryable for the next push; either way every update lands."""
    ids = _ids(org, 3)
    connector = org.connector(timeout=0.3)
    connector.read("contacts", ids)  # a token, before the faults
    org.faults({**rule, "path": BATCH_PATH, "times": 2})
    org.reset_stats()
    writes = [FieldWrite(i, {"donotfax": True}) for i in ids]
    for _ in range(3):
        results = connector.write("contacts", writes)
        assert all(r.ok or r.retryable for r in results), results
        writes = [w for w, r in zip(writes, results, strict=True) if not r.ok]
        if not writes:
            break
    assert writes == []
    _eventually(org, BATCH, 3)
    assert all(org.contact(i)["donotfax"] is True for i in ids)


def test_an_unavailable_token_endpoint_is_retried(org: Org) -> None:
    """A 503 from the token endpoint is transient: the token request is sent again."""
    org.faults({"path": r"/oauth2/v2\.0/token$", "status": 503, "times": 1})
    org.reset_stats()
    assert _count(org) == CONTACTS
    assert org.requests(TOKEN) == 2
