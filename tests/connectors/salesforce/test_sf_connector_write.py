"""Reading by ids, composite writes with per-record results, describe and quota."""

from __future__ import annotations

import httpx
import pytest

from consent_sync.connectors.protocol import FieldWrite, Quota
from consent_sync.connectors.salesforce.connector import SalesforceConnector
from consent_sync.connectors.salesforce.results import parse_limit_info, write_results
from consent_sync_sandbox.salesforce.schema import make_id
from support.salesforce_org import FAST_RETRY, MakeConnector, act, requests_to, seeded_ids

QUERY = "GET /services/data/v{version}/queryAll/"
PATCH = "PATCH /services/data/v{version}/composite/sobjects"


def test_read_by_ids_is_chunked_at_200(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """450 ids are read in three queries; unknown and malformed ids are left out."""
    ids = seeded_ids(connector, 450)
    control.delete("/_sandbox/stats")
    unknown, malformed = make_id("003", 10**9), "003Dn0000zzzzzzAAA"
    records = connector.read("Contact", [*ids, unknown, malformed, "' OR Id != '"])
    assert sorted(r.record_id for r in records) == sorted(ids)
    assert requests_to(control, QUERY) == 3


def test_composite_write_of_450_records_in_calls_of_200(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """450 writes take three PATCH /composite/sobjects calls and each record reads back."""
    ids = seeded_ids(connector, 450)
    control.delete("/_sandbox/stats")
    writes = [
        FieldWrite(i, {"HasOptedOutOfEmail": n % 2 == 0, "SMS_Consent__c": "Opted Out"})
        for n, i in enumerate(ids)
    ]
    results = connector.write("Contact", writes)
    assert [r.record_id for r in results] == ids
    assert all(r.ok for r in results)
    assert requests_to(control, PATCH) == 3
    back = {r.record_id: r.fields for r in connector.read("Contact", ids)}
    assert all(
        back[w.record_id]["HasOptedOutOfEmail"] is w.values["HasOptedOutOfEmail"] for w in writes
    )
    assert {f["SMS_Consent__c"] for f in back.values()} == {"Opted Out"}


def test_per_record_errors_are_permanent_retryable_or_gone(
    make_connector: MakeConnector, control: httpx.Client
) -> None:
    """A bad picklist value is permanent, a deleted or unknown record is gone, a row lock that
    never clears is retryable, and the rest of the batch is written."""
    connector = make_connector()
    good, bad_value, locked = seeded_ids(connector, 3)
    [deleted] = act(control, action="create", fields={"LastName": "D", "Email": "d@x.test"})
    act(control, action="delete", id=deleted)
    missing = make_id("003", 10**9 + 1)
    control.put("/_sandbox/faults", json={"batch_failure_ids": [locked]})
    control.delete("/_sandbox/stats")
    results = connector.write(
        "Contact",
        [
            FieldWrite(good, {"DoNotCall": True}),
            FieldWrite(bad_value, {"SMS_Consent__c": "Maybe"}),
            FieldWrite(locked, {"DoNotCall": True}),
            FieldWrite(deleted, {"DoNotCall": True}),
            FieldWrite(missing, {"DoNotCall": True}),
        ],
    )
    by_id = {r.record_id: r for r in results}
    assert [r.record_id for r in results] == [good, bad_value, locked, deleted, missing]
    assert by_id[good].ok
    assert not by_id[bad_value].ok and not by_id[bad_value].retryable
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in (by_id[bad_value].error or "")
    assert "SMS_Consent__c" in (by_id[bad_value].error or "")
    assert by_id[locked].retryable and "UNABLE_TO_LOCK_ROW" in (by_id[locked].error or "")
    assert by_id[deleted].gone and "ENTITY_IS_DELETED" in (by_id[deleted].error or "")
    assert by_id[missing].gone and not by_id[missing].retryable
    # The locked record alone was resent, as often as the policy allows.
    assert requests_to(control, PATCH) == FAST_RETRY.attempts


def test_random_row_locks_converge_within_one_write(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """With 30% of records locked per call, resending only those converges in bounded calls."""
    ids = seeded_ids(connector, 150)
    control.put("/_sandbox/faults", json={"batch_failure_rate": 0.3, "seed": 3})
    control.delete("/_sandbox/stats")
    results = connector.write("Contact", [FieldWrite(i, {"HasOptedOutOfFax": True}) for i in ids])
    assert sum(r.ok for r in results) >= 145
    assert all(r.ok or r.retryable for r in results)
    assert requests_to(control, PATCH) <= FAST_RETRY.attempts
    control.delete("/_sandbox/faults")
    assert all(
        r.fields["HasOptedOutOfFax"]
        for r in connector.read("Contact", [r.record_id for r in results if r.ok])
    )


def test_describe_reports_fields_writability_and_picklist_options(
    connector: SalesforceConnector,
) -> None:
    """describe gives each field's type, whether it is writable, and active picklist values."""
    fields = {f.name: f for f in connector.describe("Lead")}
    assert fields["HasOptedOutOfEmail"].type == "boolean" and fields["HasOptedOutOfEmail"].writable
    assert not fields["SystemModstamp"].writable
    assert fields["SMS_Consent__c"].type == "picklist"
    assert fields["SMS_Consent__c"].options == ("Opted In", "Opted Out")


def test_quota_is_read_from_sforce_limit_info(
    connector: SalesforceConnector, control: httpx.Client
) -> None:
    """The quota reflects the Sforce-Limit-Info header of the latest response."""
    assert connector.quota() == Quota()
    control.put("/_sandbox/api-usage", json={"used": 4000, "daily_limit": 10000})
    connector.describe("Contact")
    assert connector.quota() == Quota(4001, 10000)
    assert connector.quota().share_used == 0.4001


def test_short_or_garbled_collection_answers_leave_writes_retryable() -> None:
    """A write the answer has no readable SaveResult for is reported retryable, never ok."""
    batch = [FieldWrite(f"003Dn000000000{n}IAA", {"DoNotCall": True}) for n in range(3)]
    answer = [{"id": batch[0].record_id, "success": True, "errors": []}, "garbage"]
    results = write_results(batch, answer)
    assert [(r.ok, r.retryable) for r in results] == [(True, False), (False, True), (False, True)]
    assert results[2].error == "no result returned"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=25/5000", Quota(25, 5000)),
        ("per-app-api-usage=17/250(appName=sync); api-usage=25/5000", Quota(25, 5000)),
        ("api-usage=25/5000; per-app-api-usage=17/250(appName=sync)", Quota(25, 5000)),
        ("per-app-api-usage=17/250(appName=sync)", None),
        (None, None),
    ],
)
def test_limit_info_reads_the_org_quota_not_the_per_app_cap(
    header: str | None, expected: Quota | None
) -> None:
    """Sforce-Limit-Info's org-wide api-usage is the quota; a per-app cap never stands in."""
    assert parse_limit_info(header) == expected
