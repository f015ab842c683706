"""Writing consent: properties through batch/update, subscriptions through v4; describe."""

from __future__ import annotations

import pytest

from consent_sync.connectors.hubspot.connector import HubSpotConnector
from consent_sync.connectors.protocol import FieldWrite, WriteResult
from support.hubspot_portal import Portal

UNKNOWN_ID = "987654321"
V4_WRITE = "POST /communication-preferences/v4/statuses/batch/write"
HOSTILE_EMAILS = (
    "o'brien+news@example.com",
    '"quoted name"@example.com',
    "back\\slash@example.com",
    "zoë.ünïcödé@exämple.com",
    "ALL.CAPS+Tag@Example.COM",
)


def _status(portal: Portal, record_id: str) -> dict[str, str | None]:
    return portal.contact(record_id)["subscriptions"].get("1001", {})


def test_property_writes_report_each_record_of_a_207(portal: Portal):
    """batch/update: written records ok, an injected failure retryable, an unknown id gone."""
    portal.faults(batch_failure_ids=["202"])
    results = portal.connector().write(
        "contacts",
        [
            FieldWrite("201", {"phone_consent": False, "sms_consent": "opted_out"}),
            FieldWrite("202", {"phone_consent": True}),
            FieldWrite(UNKNOWN_ID, {"phone_consent": True}),
            FieldWrite("203", {"sms_consent": None}),
        ],
    )
    assert [r.record_id for r in results] == ["201", "202", UNKNOWN_ID, "203"]
    assert results[0] == WriteResult("201", True)
    assert not results[1].ok and results[1].retryable and not results[1].gone
    assert not results[2].ok and results[2].gone and not results[2].retryable
    assert results[3].ok
    held = portal.contact("201")["properties"]
    assert (held["phone_consent"], held["sms_consent"]) == ("false", "opted_out")
    assert portal.contact("203")["properties"]["sms_consent"] is None


def test_two_writes_to_one_record_go_out_as_one_batch_input(portal: Portal):
    """Writes for the same record are merged (HubSpot refuses duplicate ids in a batch)."""
    results = portal.connector().write(
        "contacts",
        [
            FieldWrite("204", {"phone_consent": True}),
            FieldWrite("204", {"sms_consent": "opted_in"}),
        ],
    )
    assert all(r.ok for r in results)
    held = portal.contact("204")["properties"]
    assert (held["phone_consent"], held["sms_consent"]) == ("true", "opted_in")


def test_v4_resubscribes_someone_who_unsubscribed(portal: Portal):
    """After a footer unsubscribe, a SUBSCRIBED write with its basis succeeds and stores it."""
    portal.act("unsubscribe", id="210")
    assert _status(portal, "210")["status"] == "UNSUBSCRIBED"
    (result,) = portal.connector().write(
        "contacts",
        [FieldWrite("210", {"marketing_email": "SUBSCRIBED"}, "consent", "ticked the box: /join")],
    )
    assert result == WriteResult("210", True)
    status = _status(portal, "210")
    assert status["status"] == "SUBSCRIBED"
    assert (status["legalBasis"], status["legalBasisExplanation"]) == (
        "CONSENT_WITH_NOTICE",
        "ticked the box: /join",
    )


def test_grant_with_a_basis_but_no_explanation_is_withheld(portal: Portal):
    """GDPR portals need the basis explained: without the decision's own note nothing is sent."""
    portal.act("unsubscribe", id="218")
    portal.reset_stats()
    (result,) = portal.connector().write(
        "contacts", [FieldWrite("218", {"marketing_email": "SUBSCRIBED"}, "consent")]
    )
    assert not result.ok and result.unrepresentable and not result.retryable
    assert result.error is not None and "recorded no explanation" in result.error
    assert portal.requests(V4_WRITE) == 0
    assert _status(portal, "218")["status"] == "UNSUBSCRIBED"


@pytest.mark.parametrize(
    ("basis", "missing"),
    [(None, "recorded no legal basis"), ("implied", "'implied' is not one HubSpot knows")],
    ids=["no-basis", "unknown-basis"],
)
def test_grant_without_a_hubspot_basis_is_withheld_and_nothing_is_written(
    portal: Portal, basis: str | None, missing: str
):
    """SUBSCRIBED without a basis HubSpot knows: unrepresentable, no v4 call, status unchanged."""
    portal.act("unsubscribe", id="214")
    before = _status(portal, "214")
    portal.reset_stats()
    (result,) = portal.connector().write(
        "contacts", [FieldWrite("214", {"marketing_email": "SUBSCRIBED"}, basis, "a note")]
    )
    assert not result.ok and result.unrepresentable
    assert not result.retryable and not result.gone
    assert result.error is not None
    assert "'marketing_email' (id 1001)" in result.error and missing in result.error
    assert portal.requests(V4_WRITE) == 0
    assert portal.requests("POST /crm/v3/objects/contacts/batch/update") == 0
    assert _status(portal, "214") == before


def test_withheld_grant_leaves_the_rest_of_the_write_going_out(portal: Portal):
    """A record's property is still written beside its withheld grant; the record is withheld."""
    results = portal.connector().write(
        "contacts",
        [
            FieldWrite("215", {"phone_consent": True, "marketing_email": "SUBSCRIBED"}),
            FieldWrite("216", {"marketing_email": "UNSUBSCRIBED"}),
        ],
    )
    assert results[0].unrepresentable and not results[0].ok
    assert results[1] == WriteResult("216", True)
    assert portal.contact("215")["properties"]["phone_consent"] == "true"
    assert _status(portal, "216")["status"] == "UNSUBSCRIBED"


def test_withheld_grant_beside_a_failed_property_reports_the_failure(portal: Portal):
    """When another part of the record failed, that failure (retryable) wins and names both."""
    portal.faults(batch_failure_ids=["217"])
    (result,) = portal.connector().write(
        "contacts", [FieldWrite("217", {"phone_consent": True, "marketing_email": "SUBSCRIBED"})]
    )
    assert not result.ok and result.retryable and not result.unrepresentable
    assert result.error is not None and "grant withheld" in result.error


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("legitimate_interest", "LEGITIMATE_INTEREST_OTHER"),
        ("PERFORMANCE_OF_CONTRACT", "PERFORMANCE_OF_CONTRACT"),
    ],
)
def test_subscription_write_carries_the_decisions_legal_basis(
    portal: Portal, given: str, stored: str
):
    """A write's legal basis and explanation reach HubSpot in its own vocabulary."""
    portal.act("unsubscribe", id="211")
    write = FieldWrite("211", {"marketing_email": "SUBSCRIBED"}, given, "signed the contract")
    (result,) = portal.connector().write("contacts", [write])
    assert result.ok
    status = _status(portal, "211")
    assert (status["legalBasis"], status["legalBasisExplanation"]) == (
        stored,
        "signed the contract",
    )


def test_subscription_write_for_an_unknown_contact_is_gone_and_creates_nobody(portal: Portal):
    """v4 would create a contact for an unknown address; the connector never writes blind."""
    portal.reset_stats()
    (result,) = portal.connector().write(
        "contacts", [FieldWrite(UNKNOWN_ID, {"marketing_email": "UNSUBSCRIBED"})]
    )
    assert not result.ok and result.gone
    assert portal.requests(V4_WRITE) == 0


def test_mixed_write_fails_when_either_half_fails(portal: Portal):
    """A record whose property write failed is reported failed even if its subscription landed."""
    portal.faults(batch_failure_ids=["212"])
    (result,) = portal.connector().write(
        "contacts", [FieldWrite("212", {"phone_consent": True, "marketing_email": "UNSUBSCRIBED"})]
    )
    assert not result.ok and result.retryable
    assert _status(portal, "212")["status"] == "UNSUBSCRIBED"


def test_hostile_emails_round_trip_through_v4(portal: Portal):
    """Quotes, backslashes, unicode and plus addresses are read and written by v4 unharmed."""
    ids = [portal.act("create", email=email)["id"] for email in HOSTILE_EMAILS]
    connector = portal.connector()
    results = connector.write(
        "contacts", [FieldWrite(i, {"marketing_email": "UNSUBSCRIBED"}) for i in ids]
    )
    assert all(r.ok for r in results)
    read = {r.record_id: r for r in connector.read("contacts", ids)}
    assert [read[i].fields["email"] for i in ids] == list(HOSTILE_EMAILS)
    assert all(read[i].fields["marketing_email"] == "UNSUBSCRIBED" for i in ids)
    assert all("marketing_email" in read[i].field_times for i in ids)
    grants = [FieldWrite(i, {"marketing_email": "SUBSCRIBED"}, "consent", "web form") for i in ids]
    results = connector.write("contacts", grants)
    assert all(r.ok for r in results)
    assert all(_status(portal, i)["status"] == "SUBSCRIBED" for i in ids)


def test_describe_reports_types_writability_options_and_subscriptions(portal: Portal):
    """Properties with type, read-only flag and options, plus each mapped subscription."""
    fields = {f.name: f for f in portal.connector().describe("contacts")}
    assert (fields["sms_consent"].type, fields["sms_consent"].writable) == ("enumeration", True)
    assert fields["sms_consent"].options == ("opted_in", "opted_out", "not_asked")
    assert (fields["phone_consent"].type, fields["phone_consent"].options) == (
        "bool",
        ("true", "false"),
    )
    assert not fields["hs_email_optout_1001"].writable
    assert not fields["lastmodifieddate"].writable
    marketing = fields["marketing_email"]
    assert (marketing.type, marketing.writable) == ("subscription", True)
    assert set(marketing.options) == {"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"}


def test_property_definitions_are_fetched_once(portal: Portal):
    """Typing values and describing fields share one GET of the property definitions."""
    portal.reset_stats()
    connector: HubSpotConnector = portal.connector()
    connector.read("contacts", ["101", "102"])
    connector.describe("contacts")
    connector.read("contacts", ["103"])
    assert portal.requests("GET /crm/v3/properties/contacts") == 1
    assert portal.requests("GET /communication-preferences/v3/definitions") == 1
