"""The shipped Dynamics connector reading contacts: a tracked backfill, deltas, deletions."""

from __future__ import annotations

import math

from consent_sync.domain.records import Page, Record
from support.dynamics_org import CONTACTS_LIST, Org

CONTACTS = 12_000
PAGE = 5000  # connectors/dynamics.yaml asks for Dataverse's largest page


def _drain(pages: list[Page]) -> tuple[list[Record], str]:
    records = [r for page in pages for r in page.records]
    resume = pages[-1].resume
    assert resume is not None, "the last page carries the change link"
    assert all(p.resume is None for p in pages[:-1])
    return records, resume


def test_backfill_reads_every_contact_once_in_the_fewest_calls(org: Org) -> None:
    """A full read pages 12,000 contacts in ceil(12,000 / 5,000) = 3 requests, each once, with
    the mapped columns and the stamp."""
    connector = org.connector()
    org.reset_stats()
    records, _ = _drain(list(connector.pull("contacts", None)))
    assert len(records) == CONTACTS == len({r.record_id for r in records})
    assert org.requests(CONTACTS_LIST) == math.ceil(CONTACTS / PAGE)
    first = records[0]
    assert set(first.fields) == {"emailaddress1", "donotbulkemail", "donotphone", "donotfax"}
    assert first.modified_at.tzinfo is not None
    share = sum(r.fields["donotbulkemail"] is True for r in records) / CONTACTS
    assert 0.09 <= share <= 0.17  # most people never objected


def test_an_idle_delta_costs_one_call_and_reads_nothing(org: Org) -> None:
    """Following the change link when nothing changed: one request, no records, and a link
    that keeps working."""
    connector = org.connector()
    _, resume = _drain(list(connector.pull("contacts", None)))
    org.reset_stats()
    records, again = _drain(list(connector.pull_resuming("contacts", None, resume)))
    assert records == []
    assert org.requests(CONTACTS_LIST) == 1
    later, _ = _drain(list(connector.pull_resuming("contacts", None, again)))
    assert later == []


def test_a_delta_holds_the_opt_out_and_the_deletion(org: Org) -> None:
    """After a person opts out and a rep deletes another contact, the delta holds exactly the
    opted-out contact (donotbulkemail true) and a deletion of the other."""
    connector = org.connector()
    records, resume = _drain(list(connector.pull("contacts", None)))
    willing = [
        r for r in records if r.fields["donotbulkemail"] is False and r.fields["emailaddress1"]
    ]
    opted, removed = willing[0], willing[1]
    org.act("opt_out", id=opted.record_id)
    org.act("delete", id=removed.record_id)
    changes, _ = _drain(list(connector.pull_resuming("contacts", None, resume)))
    by_id = {r.record_id: r for r in changes}
    assert set(by_id) == {opted.record_id, removed.record_id}
    assert by_id[opted.record_id].fields["donotbulkemail"] is True
    assert by_id[opted.record_id].modified_at > opted.modified_at
    assert by_id[removed.record_id].deleted


def test_an_expired_change_link_reads_everything_again(org: Org) -> None:
    """ExpiredVersionStamp (0x80044352) on the stored link: the connector reads every contact
    again with a fresh link, instead of failing or reading nothing."""
    connector = org.connector()
    _, resume = _drain(list(connector.pull("contacts", None)))
    org.control.put("/_sandbox/org", json={"expire_change_tracking_in_days": 0})
    org.reset_stats()
    records, fresh = _drain(list(connector.pull_resuming("contacts", None, resume)))
    assert len({r.record_id for r in records}) >= CONTACTS - 1  # one was deleted above
    assert org.requests(CONTACTS_LIST, 400) == 1
    org.control.put("/_sandbox/org", json={})
    quiet, _ = _drain(list(connector.pull_resuming("contacts", None, fresh)))
    assert quiet == []


def test_read_by_ids_returns_the_named_contacts_and_leaves_out_missing_ones(org: Org) -> None:
    """read() asks for up to 100 ids a request (In function) and skips ids nobody holds."""
    connector = org.connector()
    records, _ = _drain(list(connector.pull("contacts", None)))
    wanted = [r.record_id for r in records[:230]] + ["00000000-0000-4000-8000-000000000bad"]
    org.reset_stats()
    got = connector.read("contacts", wanted)
    assert sorted(r.record_id for r in got) == sorted(wanted[:230])
    assert org.requests(CONTACTS_LIST) == 3


def test_describe_reads_the_column_definitions(org: Org) -> None:
    """describe() lists the consent columns as writable Booleans and modifiedon as read-only."""
    fields = {f.name: f for f in org.connector().describe("contacts")}
    assert fields["donotbulkemail"].type == "Boolean" and fields["donotbulkemail"].writable
    assert not fields["modifiedon"].writable
