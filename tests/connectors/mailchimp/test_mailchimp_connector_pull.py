"""The shipped Mailchimp connector reading the audience: paging, the incremental cursor, each
status's decision time and evidence, reads by id, describe."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from consent_sync.domain.records import Record
from consent_sync_sandbox.mailchimp.records import subscriber_hash
from support.mailchimp_audience import MEMBER, MEMBERS, Audience

CONTACTS = 2500
PAGE = 1000


def _pull(audience: Audience, since: datetime | None) -> list[Record]:
    connector = audience.connector()
    return [r for page in connector.pull("members", since) for r in page.records]


def test_a_full_pull_reads_every_member_once_at_the_page_minimum(audience: Audience) -> None:
    """A backfill reads every member exactly once, in ceil(members / 1000) listing calls."""
    audience.reset_stats()
    records = _pull(audience, None)
    assert len(records) == CONTACTS
    assert len({r.record_id for r in records}) == CONTACTS
    assert audience.requests(MEMBERS) == math.ceil(CONTACTS / PAGE)
    assert {r.fields["status"] for r in records} == {
        "subscribed",
        "unsubscribed",
        "cleaned",
        "pending",
        "transactional",
        "archived",
    }
    assert all(r.record_id == subscriber_hash(r.fields["email_address"]) for r in records)


def test_an_incremental_pull_reads_only_what_changed(audience: Audience) -> None:
    """A pull since a moment reads the members changed after it and nothing older."""
    email = audience.first()["email_address"]
    audience.act("unsubscribe", email, reason="Other")
    since = datetime.now(UTC) - timedelta(seconds=30)
    changed = _pull(audience, since)
    assert [r.fields["email_address"] for r in changed] == [email]
    assert changed[0].fields["status"] == "unsubscribed"


def test_a_subscribe_carries_its_opt_in_time_and_evidence(audience: Audience) -> None:
    """A subscribed member's status is decided at its timestamp_opt, with ip_opt as evidence;
    an unsubscribe carries the reason the person gave, and no time of its own."""
    by_email = {m["email_address"]: m for m in audience.members()}
    records = {r.fields["email_address"]: r for r in _pull(audience, None)}
    subscribed = next(e for e, m in by_email.items() if m["status"] == "subscribed" and m["ip_opt"])
    record = records[subscribed]
    opted = datetime.fromisoformat(by_email[subscribed]["timestamp_opt"])
    assert record.field_times["status"] == opted
    assert record.field_evidence["status"]["ip_opt"] == by_email[subscribed]["ip_opt"]
    unsubscribed = next(
        e
        for e, m in by_email.items()
        if m["status"] == "unsubscribed" and m["unsubscribe_reason"].startswith("I no longer")
    )
    assert "status" not in records[unsubscribed].field_times
    assert records[unsubscribed].field_evidence["status"]["note"].startswith("I no longer")


def test_the_gdpr_advertising_permission_is_read_by_its_text(audience: Audience) -> None:
    """The "Customized Online Advertising" permission is read as a boolean field."""
    by_email = {m["email_address"]: m for m in audience.members()}
    for record in _pull(audience, None)[:200]:
        permissions = by_email[record.fields["email_address"]]["marketing_permissions"]
        expected = next(
            p["enabled"] for p in permissions if p["text"] == "Customized Online Advertising"
        )
        assert record.fields["advertising_permission"] is expected


def test_read_by_id_leaves_missing_members_out(audience: Audience) -> None:
    """Reading by subscriber hash returns the members that exist, one request each."""
    member = audience.first()
    audience.reset_stats()
    read = audience.connector().read("members", [member["id"], "0" * 32])
    assert [r.record_id for r in read] == [member["id"]]
    assert read[0].fields["status"] == member["status"]
    assert audience.requests(MEMBER) == 2


def test_describe_names_the_mapped_fields(audience: Audience) -> None:
    """describe reports the status picklist (writable) and the read-only fields."""
    fields = {f.name: f for f in audience.connector().describe("members")}
    assert fields["status"].writable
    assert "unsubscribed" in fields["status"].options
    assert not fields["email_address"].writable
    assert not fields["advertising_permission"].writable
