"""The Composite resource through simple-salesforce: query subrequests in one counted call,
results in order, per-subrequest errors, allOrNone, and the limits that refuse a request."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest, format_soql

from support.salesforce_emulator import VERSION

COMPOSITE = "POST /services/data/v{version}/composite"


def _query(reference: str, soql: str, endpoint: str = "query", **extra: Any) -> dict[str, Any]:
    url = f"/services/data/v{VERSION}/{endpoint}/?q={quote(soql)}"
    return {"method": "GET", "url": url, "referenceId": reference, **extra}


def _composite(sf: Salesforce, *subrequests: dict[str, Any], all_or_none: bool = False) -> Any:
    body = {"allOrNone": all_or_none, "compositeRequest": list(subrequests)}
    return sf.restful("composite", method="POST", json=body)


def _ids(sf: Salesforce) -> list[str]:
    """The ids of the first ten Contacts."""
    return [r["Id"] for r in sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 10")["records"]]


def test_five_queries_answer_in_order_as_one_counted_call(
    sf: Salesforce, control: httpx.Client
) -> None:
    """Five query subrequests come back in request order, each as its REST query would, and
    the sandbox counts one request and one API call for all of them."""
    ids = _ids(sf)
    soqls = [
        format_soql("SELECT Id, Email FROM Contact WHERE Id IN {} ORDER BY Id", ids[i : i + 2])
        for i in range(0, 10, 2)
    ]
    expected = [sf.query(soql)["records"] for soql in soqls]
    control.delete("/_sandbox/stats").raise_for_status()
    used = control.get("/_sandbox/api-usage").json()["used"]

    answer = _composite(sf, *(_query(f"q{i}", soql) for i, soql in enumerate(soqls)))

    results = answer["compositeResponse"]
    assert [r["referenceId"] for r in results] == ["q0", "q1", "q2", "q3", "q4"]
    assert [r["httpStatusCode"] for r in results] == [200] * 5
    assert [r["body"]["records"] for r in results] == expected
    assert all(r["body"]["done"] is True and r["body"]["totalSize"] == 2 for r in results)
    stats = control.get("/_sandbox/stats").json()
    assert stats["total"] == 1
    assert stats["endpoints"][COMPOSITE] == {"200": 1}
    assert control.get("/_sandbox/api-usage").json()["used"] == used + 1


def test_a_long_result_pages_through_query_more_subrequests(sf: Salesforce) -> None:
    """A subquery result over its batch size carries nextRecordsUrl; a Query More subrequest
    for that url answers the next page; batchSize comes from the subrequest's httpHeaders."""
    soql = "SELECT Id FROM Contact ORDER BY Id"
    options = {"httpHeaders": {"Sforce-Query-Options": "batchSize=500"}}
    first = _composite(sf, _query("first", soql, **options))["compositeResponse"][0]["body"]
    assert len(first["records"]) == 500
    assert first["done"] is False
    more = {"method": "GET", "url": first["nextRecordsUrl"], "referenceId": "more"}
    second = _composite(sf, more)["compositeResponse"][0]["body"]
    rest = sf.query(soql)["records"]
    assert [r["Id"] for r in first["records"] + second["records"]] == [r["Id"] for r in rest[:1000]]


def test_query_all_subrequest_includes_deleted_records(
    sf: Salesforce, control: httpx.Client
) -> None:
    """A query subrequest hides a deleted record; a queryAll one shows it with IsDeleted."""
    made = control.post(
        "/_sandbox/act",
        json={"action": "create", "fields": {"LastName": "Gone", "Email": "gone-composite@x.com"}},
    ).json()
    control.post(
        "/_sandbox/act", json={"action": "delete", "id": made["ids"][0]}
    ).raise_for_status()
    soql = "SELECT Id, IsDeleted FROM Contact WHERE Email = 'gone-composite@x.com'"
    live, every = _composite(sf, _query("live", soql), _query("all", soql, "queryAll"))[
        "compositeResponse"
    ]
    assert live["body"]["records"] == []
    assert [(r["Id"], r["IsDeleted"]) for r in every["body"]["records"]] == [(made["ids"][0], True)]


def test_a_failed_subrequest_answers_its_own_error_and_the_others_still_run(
    sf: Salesforce,
) -> None:
    """With allOrNone false, a malformed query is answered 400 with Salesforce's error list in
    its result, and the subrequests around it succeed."""
    ids = _ids(sf)[:1]
    good = format_soql("SELECT Id FROM Contact WHERE Id IN {}", ids)
    results = _composite(
        sf, _query("a", good), _query("bad", "SELECT Nope FROM Contact"), _query("b", good)
    )["compositeResponse"]
    assert [r["httpStatusCode"] for r in results] == [200, 400, 200]
    assert results[1]["body"][0]["errorCode"] == "INVALID_FIELD"
    assert results[2]["body"]["records"][0]["Id"] == ids[0]


def test_all_or_none_halts_every_other_subrequest(sf: Salesforce) -> None:
    """With allOrNone true, the failed subrequest keeps its error and every other one, before
    or after it, is answered 400 PROCESSING_HALTED."""
    good = "SELECT Id FROM Contact LIMIT 1"
    results = _composite(
        sf,
        _query("before", good),
        _query("bad", "SELECT Id FROM Nowhere"),
        _query("after", good),
        all_or_none=True,
    )["compositeResponse"]
    assert [r["httpStatusCode"] for r in results] == [400, 400, 400]
    assert results[1]["body"][0]["errorCode"] == "INVALID_TYPE"
    assert [results[i]["body"][0]["errorCode"] for i in (0, 2)] == ["PROCESSING_HALTED"] * 2


@pytest.mark.parametrize(
    ("subrequests", "code"),
    [
        ([_query(f"q{i}", "SELECT Id FROM Contact LIMIT 1") for i in range(6)], "LIMIT_EXCEEDED"),
        ([_query(f"q{i}", "SELECT Id FROM Contact LIMIT 1") for i in range(26)], "LIMIT_EXCEEDED"),
        ([_query("same", "SELECT Id FROM Contact LIMIT 1")] * 2, "INVALID_INPUT"),
        ([_query("q", "SELECT Id FROM Contact", httpHeaders={"Accept": "x"})], "INVALID_INPUT"),
        (
            [{"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": "l"}],
            "INVALID_INPUT",
        ),
        ([], "INVALID_INPUT"),
    ],
    ids=[
        "six-queries",
        "26-subrequests",
        "repeated-reference",
        "inherited-header",
        "not-a-query",
        "empty",
    ],
)
def test_a_malformed_request_is_refused_whole(
    sf: Salesforce, subrequests: list[dict[str, Any]], code: str
) -> None:
    """More than 5 queries or 25 subrequests, a repeated referenceId, a header the top-level
    request owns, a resource the emulator does not serve, or nothing at all: one 400."""
    with pytest.raises(SalesforceMalformedRequest) as refused:
        _composite(sf, *subrequests)
    assert refused.value.content[0]["errorCode"] == code
