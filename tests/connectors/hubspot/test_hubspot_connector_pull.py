"""Pulling contacts: full listing, incremental search, typed values, subscription statuses."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import FieldWrite
from consent_sync.domain.mapping import observe
from consent_sync.domain.records import Page
from support.hubspot_portal import CONTACTS, Portal, pulled_since, records
from support.paths import REPO

#: The Salesforce connector file must resolve too; these tests never reach it.


def _mark() -> datetime:
    """A stamp strictly before anything that happens next in the emulator."""
    moment = datetime.now(UTC)
    time.sleep(0.005)  # the emulator stamps whole milliseconds: its next stamp is after `moment`
    return moment


def test_full_listing_pages_through_every_contact_once(portal: Portal):
    """since=None lists all contacts 100 a page; only the last page carries a watermark."""
    portal.reset_stats()
    started = datetime.now(UTC)
    pages = list(portal.connector().pull("contacts", None))
    assert pages.pop() == Page([], None)  # the page that closes a pull (connectors/window.py)
    ids = [r.record_id for r in records(pages)]
    assert len(ids) == CONTACTS and len(set(ids)) == CONTACTS
    assert len(pages) == CONTACTS // 100
    assert all(page.watermark is None for page in pages[:-1])
    last = pages[-1].watermark
    assert last is not None and started <= last <= datetime.now(UTC)
    assert portal.requests("GET /crm/v3/objects/contacts") == CONTACTS // 100
    # one v4 status read per page of 100 subscribers, no more
    assert portal.requests("POST /communication-preferences/v4/statuses/batch/read") == (
        CONTACTS // 100
    )


def test_values_are_typed_by_property_definitions(portal: Portal):
    """Booleans arrive as True/False, empty values as None, enumerations and statuses as text."""
    pulled = records(list(portal.connector().pull("contacts", None)))
    phone = {r.fields["phone_consent"] for r in pulled}
    sms = {r.fields["sms_consent"] for r in pulled}
    assert phone == {True, False, None}
    assert sms == {"opted_in", "opted_out", "not_asked", None}
    assert {r.fields["marketing_email"] for r in pulled} == {
        "SUBSCRIBED",
        "UNSUBSCRIBED",
        "NOT_SPECIFIED",
    }
    assert {r.fields["hs_email_optout_1001"] for r in pulled} == {True, False, None}
    assert {r.fields["hs_email_optout"] for r in pulled} == {True, False}


def test_incremental_search_returns_exactly_the_changed_contacts(portal: Portal):
    """A pull since a stamp returns the contacts changed after it, and nothing else."""
    since = _mark()
    changed = {"150", "1999", "2700"}
    for record_id in sorted(changed):
        portal.act("edit", id=record_id, properties={"sms_consent": "not_asked"})
    pulled = pulled_since(portal.connector(), since)
    assert [r.record_id for r in pulled] == ["150", "1999", "2700"]  # oldest change first
    assert all(r.fields["sms_consent"] == "not_asked" for r in pulled)
    assert all(r.modified_at >= since for r in pulled)


def test_unsubscribe_is_read_with_its_own_timestamp_and_source(portal: Portal):
    """A footer unsubscribe shows as UNSUBSCRIBED with the v4 timestamp and source as evidence."""
    subscribed = next(
        r
        for r in records(list(portal.connector().pull("contacts", None)))
        if r.fields["marketing_email"] == "SUBSCRIBED"
    )
    since = _mark()
    portal.act("unsubscribe", id=subscribed.record_id)
    (record,) = pulled_since(portal.connector(), since)
    assert record.record_id == subscribed.record_id
    assert record.fields["marketing_email"] == "UNSUBSCRIBED"
    assert record.fields["hs_email_optout_1001"] is True
    assert since <= record.field_times["marketing_email"] <= datetime.now(UTC)
    assert record.field_evidence["marketing_email"]["hubspot_source"] == "EMAIL"


def test_shipped_configuration_builds_a_connector_whose_values_the_mapping_reads(portal: Portal):
    """The shipped HubSpot connector and mapping files pull records the mapping fully reads."""
    config = load_config(REPO, env=portal.env, systems=("hubspot",))
    mapping = config.mappings["hubspot"]
    connector = build_connector(config.connectors["hubspot"], mapping)
    try:
        page = next(iter(connector.pull("contacts", None)))
        now = datetime.now(UTC)
        mapped = [observe("hubspot", mapping.objects["contacts"], r, now) for r in page.records]
    finally:
        connector.close()
    assert len(mapped) == 100
    assert not [c for m in mapped for c in m.unmappable]
    purposes = {o.purpose for m in mapped for o in m.observations}
    assert purposes == {"email_marketing", "sms_marketing", "phone_calls"}


def test_contact_without_email_has_no_subscription_field(portal: Portal):
    """v4 addresses subscribers by email: without one, no status is claimed for the contact."""
    created = portal.act("create", properties={"firstname": "Nomail"})
    (record,) = portal.connector().read("contacts", [created["id"]])
    assert record.fields["email"] is None
    assert "marketing_email" not in record.fields
    assert "marketing_email" not in record.field_times


def test_v4_answer_without_results_is_retried_not_read_as_unknown(portal: Portal):
    """A 200 from v4 without `results` is a transient fault, never every status NOT_SPECIFIED."""
    (unsubscribed,) = portal.connector().write(
        "contacts", [FieldWrite("101", {"marketing_email": "UNSUBSCRIBED"})]
    )
    assert unsubscribed.ok
    portal.faults(
        {"path": "statuses/batch/read", "status": 200, "body": {"status": "COMPLETE"}, "times": 1}
    )
    (record,) = portal.connector().read("contacts", ["101"])
    assert record.fields["marketing_email"] == "UNSUBSCRIBED"
