"""SOQL over REST through simple-salesforce: paging, escaping, errors, incremental pulls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast
from urllib.parse import quote

import httpx
import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest, format_soql

from consent_sync_sandbox.salesforce.schema import make_id
from support.salesforce_emulator import SEEDED, Served

HOSTILE = [
    "o'brien@x.com",
    "back\\slash@x.com",
    'say"cheese"@x.com',
    "zoë.müller@exämple.de",
    "percent%under_score@x.com",
]


def test_query_all_pages_through_every_contact(sf: Salesforce) -> None:
    """query_all follows nextRecordsUrl across 2,000-record pages to all 6,000+ contacts."""
    result = sf.query_all("SELECT Id, Email FROM Contact")
    ids = [r["Id"] for r in result["records"]]
    assert len(ids) >= SEEDED
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 18 and i.startswith("003") for i in ids)


def test_first_page_reports_total_and_next_url(sf: Salesforce) -> None:
    """The first page holds 2,000 records, totalSize, done=false and a nextRecordsUrl."""
    page = sf.query("SELECT Id FROM Contact")
    assert len(page["records"]) == 2000
    assert page["done"] is False
    assert page["totalSize"] >= SEEDED
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/")


def test_batch_size_header_sets_the_page_size(sf: Salesforce) -> None:
    """Sforce-Query-Options batchSize is honoured and clamped to 200..2000."""
    small = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=500"})
    tiny = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=5"})
    assert len(small["records"]) == 500
    assert len(tiny["records"]) == 200


def test_query_all_iter_is_ordered_by_modstamp_then_id(sf: Salesforce) -> None:
    """The incremental pull query comes back in SystemModstamp, Id order across pages."""
    since = datetime.now(UTC) - timedelta(days=40)
    rows = list(
        sf.query_all_iter(
            format_soql(
                "SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= {} "
                "ORDER BY SystemModstamp, Id",
                since,
            ),
            headers={"Sforce-Query-Options": "batchSize=1000"},
        )
    )
    keys = [(r["SystemModstamp"], r["Id"]) for r in rows]
    assert len(keys) >= SEEDED
    assert keys == sorted(keys)


def test_datetime_filter_selects_only_later_records(sf: Salesforce, control: httpx.Client) -> None:
    """A SystemModstamp filter returns the records modified after it and none before."""
    email = "filter.check@x.com"
    control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": "Filter", "Email": email}},
    ).raise_for_status()
    query = "SELECT Email, SystemModstamp FROM Contact WHERE SystemModstamp > {}"
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert sf.query(format_soql(query, later))["totalSize"] == 0
    earlier = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    records = sf.query_all(format_soql(query, earlier))["records"]
    assert email in [r["Email"] for r in records]
    floor = earlier.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert all(r["SystemModstamp"] > floor for r in records)
    assert len(records) < SEEDED


@pytest.mark.parametrize("email", HOSTILE)
def test_hostile_emails_are_found_exactly_via_format_soql(
    sf: Salesforce, control: httpx.Client, email: str
) -> None:
    """Quotes, backslashes, wildcards and unicode in emails match exactly one record."""
    control.post(
        "/_sandbox/act", json={"action": "create", "fields": {"LastName": "H", "Email": email}}
    ).raise_for_status()
    result = sf.query(format_soql("SELECT Id, Email FROM Contact WHERE Email = {}", email))
    assert [r["Email"] for r in result["records"]] == [email]


def test_email_comparison_ignores_case(sf: Salesforce, control: httpx.Client) -> None:
    """Email = 'X' matches regardless of case, as SOQL text comparison does."""
    control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": "C", "Email": "Mixed.Case@X.com"}},
    ).raise_for_status()
    result = sf.query(format_soql("SELECT Email FROM Contact WHERE Email = {}", "mixed.case@x.COM"))
    assert [r["Email"] for r in result["records"]] == ["Mixed.Case@X.com"]


def test_like_with_escaped_wildcards(sf: Salesforce, control: httpx.Client) -> None:
    """LIKE with format_soql's :like escaping matches % and _ literally."""
    control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": "L", "Email": "100%_sure@x.com"}},
    ).raise_for_status()
    query = format_soql("SELECT Email FROM Contact WHERE Email LIKE '{:like}%'", "100%_s")
    assert [r["Email"] for r in sf.query(query)["records"]] == ["100%_sure@x.com"]


def test_in_and_not_filters_on_consent_fields(sf: Salesforce) -> None:
    """IN, NOT and checkbox filters partition the contacts consistently."""
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    opted_out = sf.query("SELECT COUNT() FROM Contact WHERE HasOptedOutOfEmail = true")
    not_opted_out = sf.query("SELECT COUNT() FROM Contact WHERE NOT HasOptedOutOfEmail = true")
    assert opted_out["totalSize"] + not_opted_out["totalSize"] == total
    sms = sf.query("SELECT COUNT() FROM Contact WHERE SMS_Consent__c IN ('Opted In', 'Opted Out')")[
        "totalSize"
    ]
    never_asked = sf.query("SELECT COUNT() FROM Contact WHERE SMS_Consent__c = null")["totalSize"]
    assert 0 < sms < total
    assert sms + never_asked == total


def test_order_by_desc_and_limit(sf: Salesforce) -> None:
    """ORDER BY ... DESC with LIMIT returns the newest records first."""
    rows = sf.query("SELECT Id, SystemModstamp FROM Contact ORDER BY SystemModstamp DESC LIMIT 3")
    stamps = [r["SystemModstamp"] for r in rows["records"]]
    assert len(stamps) == 3
    assert stamps == sorted(stamps, reverse=True)


def test_malformed_query_error_body(sf: Salesforce) -> None:
    """A syntax error raises SalesforceMalformedRequest with errorCode MALFORMED_QUERY."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Contact WHERE Email = ")
    assert caught.value.status == 400
    (error,) = caught.value.content
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token" in error["message"]


def test_a_statement_past_100000_characters_is_refused(sf: Salesforce) -> None:
    """SOQL's hard limit: a statement of 2,000 ids (the connector's Individual lookups) runs,
    one of more than 100,000 characters is MALFORMED_QUERY (sent through Composite, whose body
    carries what no URI could)."""

    def composite(count: int) -> dict[str, object]:
        ids = [make_id("0PK", n) for n in range(1, count + 1)]  # Individual ids
        soql = format_soql("SELECT Id FROM Contact WHERE IndividualId IN {ids}", ids=ids)
        url = f"/services/data/v{sf.sf_version}/query/?q={quote(soql, safe='')}"
        body = {"compositeRequest": [{"method": "GET", "url": url, "referenceId": "q0"}]}
        answer = sf.restful("composite", method="POST", json=body)
        (result,) = answer["compositeResponse"]
        return {"length": len(soql), **result}

    fits = composite(2000)
    assert fits["httpStatusCode"] == 200, fits["body"]
    assert 40_000 < int(str(fits["length"])) <= 100_000
    too_long = composite(5000)
    assert int(str(too_long["length"])) > 100_000
    assert too_long["httpStatusCode"] == 400
    (error,) = cast(list[dict[str, str]], too_long["body"])
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert "100,000 characters" in error["message"]


def test_invalid_field_error_body(sf: Salesforce) -> None:
    """An unknown field raises SalesforceMalformedRequest with errorCode INVALID_FIELD."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id, Consent__c FROM Contact")
    (error,) = caught.value.content
    assert error["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Consent__c'" in error["message"]


def test_query_all_includes_deleted_records(sf: Salesforce, control: httpx.Client) -> None:
    """query hides deleted records; queryAll (include_deleted) shows them with IsDeleted."""
    made = control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": "Gone", "Email": "gone@x.com"}},
    ).json()
    control.post(
        "/_sandbox/act", json={"action": "delete", "id": made["ids"][0]}
    ).raise_for_status()
    query = "SELECT Id, IsDeleted FROM Contact WHERE Email = 'gone@x.com'"
    assert sf.query(query)["totalSize"] == 0
    rows = sf.query_all(query, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(made["ids"][0], True)]


def test_expired_query_locator_is_invalid(served: Served, sf: Salesforce) -> None:
    """A nextRecordsUrl with an unknown locator answers INVALID_QUERY_LOCATOR."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("/services/data/v59.0/query/01gDnNOSUCHONEIAW-2000", identifier_is_url=True)
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_pages_can_be_fetched_again(sf: Salesforce) -> None:
    """Re-reading a nextRecordsUrl (a retry) returns the same page."""
    first = sf.query("SELECT Id FROM Contact ORDER BY Id")
    again = [sf.query_more(first["nextRecordsUrl"], identifier_is_url=True) for _ in range(2)]
    assert again[0]["records"] == again[1]["records"]
    assert again[0]["records"][0]["Id"] > first["records"][-1]["Id"]


def test_query_by_ids_reads_exactly_those_records(sf: Salesforce) -> None:
    """WHERE Id IN (...) returns the named records, 15- or 18-character ids alike."""
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 3")["records"]]
    wanted = [ids[0], ids[2][:15], make_id("00Q", 1)]  # a Lead id matches no Contact
    rows = sf.query(format_soql("SELECT Id FROM Contact WHERE Id IN {} ORDER BY Id", wanted))
    assert [r["Id"] for r in rows["records"]] == [ids[0], ids[2]]


def test_eleventh_open_cursor_closes_the_oldest(sf: Salesforce) -> None:
    """Like Salesforce, at most 10 query cursors stay open; the oldest is closed first."""
    small = {"Sforce-Query-Options": "batchSize=200"}
    pages = [sf.query("SELECT Id FROM Contact", headers=small) for _ in range(11)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more(pages[0]["nextRecordsUrl"], identifier_is_url=True)
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert sf.query_more(pages[-1]["nextRecordsUrl"], identifier_is_url=True)["records"]
