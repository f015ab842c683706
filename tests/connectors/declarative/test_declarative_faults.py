"""The fault matrix, for the declarative connector against the Mailchimp emulator: refused keys,
429 storms, 5xx, cut connections, garbage, stalls, per-member batch failures, foreign CAs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trustme

from consent_sync.connectors.protocol import AuthError, PermanentError, TransientError
from consent_sync.domain.records import FieldWrite, Record
from support.declarative_audience import BATCH, FAST_RETRY, LIST, Audience
from support.waiting import wait_for

LISTING = "/members$"
UPSERT = r"^/3\.0/lists/[^/]+$"


def _first_page(audience: Audience, **options: object) -> int:
    """Pull one listing page; the number of records it held."""
    page = next(iter(audience.connector(**options).pull("members", None)))  # type: ignore[arg-type]
    return len(page.records)


def _eventually(audience: Audience, endpoint: str, expected: int) -> int:
    """Requests to `endpoint`, once `expected` have finished (a stalled one is counted late)."""
    wait_for(lambda: audience.requests(endpoint) >= expected, 3.0, endpoint, every=0.05)
    return audience.requests(endpoint)


def _unsubscribes(audience: Audience, count: int) -> list[FieldWrite]:
    records: list[Record] = [
        r
        for page in audience.connector().pull("members", None)
        for r in page.records
        if r.fields.get("status") == "unsubscribed"
    ][:count]
    assert len(records) == count
    return [
        FieldWrite(r.record_id, {"status": "unsubscribed"}, email=r.fields["email_address"].lower())
        for r in records
    ]


def test_a_refused_key_is_an_auth_error_that_never_shows_the_key(audience: Audience) -> None:
    """A refused API key raises AuthError after one request, and the key is not in the message."""
    key = "0123456789abcdef0123456789abcdef-us21"
    audience.reset_stats()
    with pytest.raises(AuthError) as caught:
        _first_page(audience, env={"MAILCHIMP_API_KEY": key})
    assert key not in str(caught.value) and caught.value.status == 401
    assert audience.requests(LIST) == 1


def test_a_429_storm_with_retry_after_is_waited_out(audience: Audience) -> None:
    """Three 429s with Retry-After are each waited for, then the page arrives."""
    audience.faults({"path": LISTING, "status": 429, "retry_after": "0.2", "times": 3})
    audience.reset_stats()
    started = time.monotonic()
    assert _first_page(audience) == 50
    assert time.monotonic() - started >= 0.6
    assert audience.requests(LIST, 429) == 3 and audience.requests(LIST, 200) == 1


def test_an_endless_429_storm_gives_up_after_the_policy_attempts(audience: Audience) -> None:
    """Retries are bounded: an endless storm costs exactly `attempts` requests, then raises."""
    audience.faults({"path": LISTING, "status": 429, "retry_after": "0.01"})
    audience.reset_stats()
    with pytest.raises(TransientError) as caught:
        _first_page(audience)
    assert caught.value.status == 429
    assert audience.requests(LIST) == FAST_RETRY.attempts


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
def test_transient_faults_on_a_listing_are_retried(
    audience: Audience, rule: dict[str, object]
) -> None:
    """5xx, cut connections, malformed bodies and stalls: retried, then the page arrives."""
    audience.faults({**rule, "path": LISTING, "times": 2})
    audience.reset_stats()
    # A short client timeout only where the fault is a stall: elsewhere a slow answer on a
    # loaded machine would cost a retry of its own and miscount.
    timeout = 0.3 if rule["kind"] == "timeout" else 10.0
    assert _first_page(audience, timeout=timeout) == 50
    assert _eventually(audience, LIST, 3) == 3


@pytest.mark.parametrize(
    "rule",
    [{"kind": "status", "status": 503}, {"kind": "drop"}, {"kind": "malformed"}],
    ids=["503", "drop", "malformed"],
)
def test_transient_faults_on_a_batch_write_are_retried(
    audience: Audience, rule: dict[str, object]
) -> None:
    """A batch upsert cut off, garbled or refused for a while is sent again and lands."""
    writes = _unsubscribes(audience, 3)
    audience.faults({**rule, "path": UPSERT, "method": "POST", "times": 2})
    audience.reset_stats()
    results = audience.connector().write("members", writes)
    assert [r.ok for r in results] == [True, True, True]
    assert audience.requests(BATCH) == 3


def test_a_batch_that_stays_unreachable_is_retryable_record_by_record(audience: Audience) -> None:
    """After the policy's attempts, each member's write is reported retryable; none is lost."""
    writes = _unsubscribes(audience, 3)
    audience.faults({"path": UPSERT, "method": "POST", "status": 503})
    results = audience.connector().write("members", writes)
    assert [(r.ok, r.retryable) for r in results] == [(False, True)] * 3


def test_a_per_member_failure_fails_that_member_only(audience: Audience) -> None:
    """A member the batch answers with an error is refused alone; the others are written."""
    writes = _unsubscribes(audience, 4)
    audience.faults(batch_failure_ids=[writes[1].record_id])
    audience.reset_stats()
    results = audience.connector().write("members", writes)
    assert [r.ok for r in results] == [True, False, True, True]
    assert not results[1].retryable and "injected per-record failure" in (results[1].error or "")
    assert audience.requests(BATCH) == 1


def test_the_configured_ca_wins_over_ca_environment_variables(
    audience: Audience, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CA variables pointing at the sandbox CA, a connector given another CA refuses."""
    sandbox_ca = audience.env["MAILCHIMP_CA_FILE"]
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, sandbox_ca)
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    audience.reset_stats()
    with pytest.raises(TransientError):
        _first_page(audience, env={"MAILCHIMP_CA_FILE": str(stranger)})
    assert audience.requests(LIST) == 0  # refused at the handshake: nothing reached the API
    assert _first_page(audience) == 50


def test_an_unreadable_ca_file_fails_at_construction_naming_it(audience: Audience) -> None:
    """A CA file that is no bundle is refused when the connector is built, not at a call."""
    config = audience.config()
    connector = config.connectors["mailchimp"]
    bad = connector.model_copy(
        update={"requester": connector.requester.model_copy(update={"ca_file": "/nowhere.pem"})}
    )
    from consent_sync.connectors.factory import build_connector

    with pytest.raises(PermanentError, match=r"nowhere\.pem"):
        build_connector(bad, config.mappings["mailchimp"])
