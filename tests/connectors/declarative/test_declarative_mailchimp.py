"""The declarative connector against the Mailchimp emulator, run from the documented spec:
listing, changes since a stamp, reads by id, batch upserts by email judged member by member."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from consent_sync.domain.records import FieldWrite, Record
from support.declarative_audience import BATCH, LIST, MEMBER, Audience

LOOKBACK = timedelta(seconds=300)


def _records(pages: list) -> list[Record]:  # type: ignore[type-arg]
    return [record for page in pages for record in page.records]


def _total(audience: Audience) -> int:
    answer = audience.control.get(
        f"/3.0/lists/{audience.env['MAILCHIMP_LIST_ID']}/members",
        params={"count": 1, "fields": "total_items"},
        auth=("any", audience.env["MAILCHIMP_API_KEY"]),
    )
    answer.raise_for_status()
    total: int = answer.json()["total_items"]
    return total


def _by_status(records: list[Record], status: str) -> list[Record]:
    return [r for r in records if r.fields.get("status") == status]


def test_a_full_pull_reads_every_member_once_in_the_fewest_calls(audience: Audience) -> None:
    """Every member, each once, in ceil(total / page size) listing calls; the cursor moves once,
    at the end, to the newest stamp read and never past when the pull began."""
    connector = audience.connector(page_size=50)
    total = _total(audience)
    audience.reset_stats()
    started = datetime.now(UTC)
    pages = list(connector.pull("members", None))
    records = _records(pages)
    assert len(records) == total == len({r.record_id for r in records})
    assert audience.requests(LIST) == math.ceil(total / 50) == connector.api_calls
    marks = [p.watermark for p in pages if p.watermark is not None]
    assert marks == [min(max(r.modified_at for r in records), started)]
    assert pages[-1].records == [] and pages[0].watermark is None
    assert all(r.fields.get("email_address") for r in records)


def test_a_subscribe_carries_its_own_time_and_evidence(audience: Audience) -> None:
    """`status: subscribed` is timed by timestamp_opt and carries ip_opt as evidence."""
    records = _records(list(audience.connector().pull("members", None)))
    opted_in = [
        (record, member)
        for record in _by_status(records, "subscribed")
        if (member := audience.member(record.fields["email_address"])).get("timestamp_opt")
        and member.get("ip_opt")
    ]
    assert opted_in, "the seed holds subscribers with an opt-in time and IP"
    for record, member in opted_in:
        assert record.field_times["status"] == datetime.fromisoformat(member["timestamp_opt"])
        assert record.field_evidence["status"]["ip_opt"] == member["ip_opt"]
    unsubscribed = _by_status(records, "unsubscribed")
    assert unsubscribed and "status" not in unsubscribed[0].field_times


def test_changes_since_a_stamp_and_an_idle_pull_cost_one_call(audience: Audience) -> None:
    """After a pull, a person's unsubscribe is the only record the next pull delivers, and a
    pull with nothing new delivers nothing, each in one call."""
    connector = audience.connector()
    pages = list(connector.pull("members", None))
    records = _records(pages)
    cursor = next(p.watermark for p in pages if p.watermark is not None)
    target = _by_status(records, "subscribed")[-1]
    audience.act("unsubscribe", target.fields["email_address"], reason="too many emails")
    audience.reset_stats()
    changed = _records(list(connector.pull("members", cursor - LOOKBACK)))
    assert [(r.record_id, r.fields["status"]) for r in changed] == [
        (target.record_id, "unsubscribed")
    ]
    assert audience.requests(LIST) == 1
    later = max(cursor, changed[0].modified_at)
    assert _records(list(connector.pull("members", later - LOOKBACK))) == []
    assert audience.requests(LIST) == 2


def test_reading_by_id_leaves_out_members_that_do_not_exist(audience: Audience) -> None:
    """One request per id; a 404 means missing, not an error."""
    connector = audience.connector()
    some = _records(list(connector.pull("members", None)))[:3]
    audience.reset_stats()
    read = connector.read("members", [r.record_id for r in some] + ["0" * 32])
    assert sorted(r.record_id for r in read) == sorted(r.record_id for r in some)
    assert audience.requests(MEMBER) == 4 and audience.requests(MEMBER, 404) == 1


def test_a_batch_upsert_is_judged_member_by_member(audience: Audience) -> None:
    """One batch: an unsubscribe lands; re-subscribing someone who unsubscribed is
    unrepresentable (the address a pseudonym in the message); no email, no write."""
    connector = audience.connector()
    records = _records(list(connector.pull("members", None)))
    to_unsubscribe = _by_status(records, "subscribed")[0]
    resubscribed = _by_status(records, "unsubscribed")[0]
    no_email = _by_status(records, "transactional")[0]
    writes = [
        FieldWrite(
            to_unsubscribe.record_id,
            {"status": "unsubscribed"},
            email=to_unsubscribe.fields["email_address"].lower(),
        ),
        FieldWrite(
            resubscribed.record_id,
            {"status": "subscribed"},
            email=resubscribed.fields["email_address"].lower(),
        ),
        FieldWrite(no_email.record_id, {"status": "unsubscribed"}),
    ]
    audience.reset_stats()
    ok, refused, unaddressed = connector.write("members", writes)
    assert ok.ok
    assert audience.member(to_unsubscribe.fields["email_address"])["status"] == "unsubscribed"
    assert not refused.ok and refused.unrepresentable and not refused.retryable
    assert resubscribed.fields["email_address"].lower() not in (refused.error or "").lower()
    assert "<email:" in (refused.error or "")
    assert audience.member(resubscribed.fields["email_address"])["status"] == "unsubscribed"
    assert (
        not unaddressed.ok and not unaddressed.retryable and "no email" in (unaddressed.error or "")
    )
    assert audience.member(no_email.fields["email_address"])["status"] == "transactional"
    assert audience.requests(BATCH) == 1


def test_batches_are_as_large_as_the_spec_allows(audience: Audience) -> None:
    """Writes go out max_items (500) at a time: 240 unsubscribes are one request."""
    connector = audience.connector()
    records = [
        r for r in _records(list(connector.pull("members", None))) if r.fields.get("email_address")
    ]
    writes = [
        FieldWrite(r.record_id, {"status": "unsubscribed"}, email=r.fields["email_address"].lower())
        for r in records
        if r.fields["status"] == "unsubscribed"
    ]
    audience.reset_stats()
    results = connector.write("members", writes)
    assert len(results) == len(writes) and all(r.ok for r in results)
    assert audience.requests(BATCH) == 1


def test_describe_names_the_mapped_fields(audience: Audience) -> None:
    """`validate --live` learns the status picklist and its options from the spec."""
    fields = {f.name: f for f in audience.connector().describe("members")}
    assert fields["status"].type == "picklist" and fields["status"].writable
    assert "unsubscribed" in fields["status"].options
    assert not fields["email_address"].writable
