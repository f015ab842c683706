"""Writing members with the shipped Mailchimp connector: batch subscribe or unsubscribe by
address, per-member results, the compliance state as unrepresentable, per-record failures."""

from __future__ import annotations

from consent_sync.domain.records import FieldWrite
from consent_sync_sandbox.mailchimp.records import subscriber_hash
from support.mailchimp_audience import BATCH, Audience

CONTACTS = 1200


def _write(email: str, status: str) -> FieldWrite:
    return FieldWrite(subscriber_hash(email), {"status": status}, email=email.lower())


def _transactional(audience: Audience, n: int) -> list[str]:
    members = list(audience.members(status="transactional"))
    return [m["email_address"] for m in members[:n]]


def test_unsubscribes_go_out_as_one_batch_matched_by_address(audience: Audience) -> None:
    """Three unsubscribes are one batch request; each member is unsubscribed, each result ok."""
    emails = _transactional(audience, 3)
    audience.reset_stats()
    results = audience.connector().write("members", [_write(e, "unsubscribed") for e in emails])
    assert [(r.record_id, r.ok) for r in results] == [(subscriber_hash(e), True) for e in emails]
    assert audience.requests(BATCH) == 1
    for email in emails:
        member = audience.member(email)
        assert member["status"] == "unsubscribed"
        assert member["unsubscribe_reason"] == "N/A (Unsubscribed by an admin)"


def test_more_than_500_writes_are_split_at_the_documented_limit(audience: Audience) -> None:
    """601 writes are two batch requests (500 and 101)."""
    emails = _transactional(audience, 601)
    assert len(emails) == 601
    audience.reset_stats()
    results = audience.connector().write("members", [_write(e, "unsubscribed") for e in emails])
    assert all(r.ok for r in results)
    assert len(results) == 601
    assert audience.requests(BATCH) == 2


def test_resubscribing_a_self_unsubscribed_member_is_unrepresentable(audience: Audience) -> None:
    """Mailchimp refuses to re-subscribe a member who unsubscribed themselves: the result says
    unrepresentable, is not retried, and the member stays unsubscribed."""
    (email,) = _transactional(audience, 1)
    audience.act("signup", email, double_opt_in=False)
    audience.act("unsubscribe", email)
    audience.reset_stats()
    (result,) = audience.connector().write("members", [_write(email, "subscribed")])
    assert (result.ok, result.unrepresentable, result.retryable) == (False, True, False)
    assert audience.requests(BATCH) == 1
    assert audience.member(email)["status"] == "unsubscribed"
    assert email.lower() not in (result.error or "")  # the address never travels in the result


def test_a_per_record_failure_fails_that_member_alone(audience: Audience) -> None:
    """An injected per-member error fails that member (not retried as a batch); the others land."""
    failing, fine = _transactional(audience, 2)
    audience.faults(batch_failure_ids=[subscriber_hash(failing)])
    results = audience.connector().write(
        "members", [_write(failing, "unsubscribed"), _write(fine, "unsubscribed")]
    )
    assert [r.ok for r in results] == [False, True]
    assert not results[0].retryable
    assert audience.member(failing)["status"] == "transactional"
    assert audience.member(fine)["status"] == "unsubscribed"


def test_a_write_without_a_known_address_is_refused_before_sending(audience: Audience) -> None:
    """The batch addresses members by email: a write whose email is unknown is not sent."""
    (email,) = _transactional(audience, 1)
    audience.reset_stats()
    (result,) = audience.connector().write(
        "members", [FieldWrite(subscriber_hash(email), {"status": "unsubscribed"})]
    )
    assert not result.ok
    assert audience.requests(BATCH) == 0
    assert audience.member(email)["status"] == "transactional"
