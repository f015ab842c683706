"""Many SOQL queries in few API calls, through the Composite resource (`POST /composite`).

Salesforce counts one Composite call as a single API request, whatever it carries, and takes up
to 25 subrequests of which up to 5 query operations (Query, QueryAll, and Query More for a
result's next page) (REST API guide, "Send Multiple Requests Using Composite"; its Composite
Batch resource takes 25 queries, but "each subrequest counts against rate limits", so it saves
round trips, not API requests). A query in a Composite body is not bound by the 16,384 bytes a
REST call's URI and headers may take, only by SOQL's 100,000 characters (Salesforce Developer
Limits, "SOQL and SOSL Limits"), so its `IN (...)` lists may be long: IDS_PER_QUERY ids are
about 21,000 characters of SOQL.

Each query is read to its end: a result with `nextRecordsUrl` is followed by a Query More
subrequest in a later call, ahead of queries not started yet (Salesforce keeps 10 cursors open
per user). A subrequest Salesforce refused raises as the same refusal to a REST query would,
through the connector's calls (its retries and re-authentication).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import quote

from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError

from consent_sync.connectors.protocol import TransientError

#: `call(what, fn, object_type)`: one API call through the connector's retry layer.
Call = Callable[[str, Callable[[Salesforce], Any], str | None], Any]
QUERIES_PER_CALL = 5
#: ids per `IN (...)` list of a query sent through Composite (an id is 18 characters and its
#: quotes and comma).
IDS_PER_QUERY = 1000
Rows = list[dict[str, Any]]


def query_many(
    call: Call, queries: Sequence[str], *, what: str, object_type: str | None, system: str
) -> list[Rows]:
    """Every row each SOQL query answers (`query`, not `queryAll`), in order, query by query;
    QUERIES_PER_CALL queries or next pages a Composite call."""
    rows: list[Rows] = [[] for _ in queries]
    # (which query, the subrequest's url: "" for its first page, built with the API version)
    pending: deque[tuple[int, str]] = deque((index, "") for index in range(len(queries)))
    while pending:
        sent = [pending.popleft() for _ in range(min(QUERIES_PER_CALL, len(pending)))]

        def send(sf: Salesforce, urls: list[tuple[int, str]] = sent) -> list[dict[str, Any]]:
            subrequests = [
                {
                    "method": "GET",
                    "url": url
                    or f"/services/data/v{sf.sf_version}/query/?q={quote(queries[i], safe='')}",
                    "referenceId": f"q{position}",
                }
                for position, (i, url) in enumerate(urls)
            ]
            body = {"allOrNone": False, "compositeRequest": subrequests}
            answer = sf.restful("composite", method="POST", json=body)
            return _results(answer, len(subrequests), system, object_type)

        more: list[tuple[int, str]] = []
        for (index, _), result in zip(sent, call(what, send, object_type), strict=True):
            rows[index] += [row for row in result["records"] if isinstance(row, dict)]
            next_url = result.get("nextRecordsUrl")
            if not result.get("done", True) and isinstance(next_url, str):
                more.append((index, next_url))
        pending.extendleft(reversed(more))
    return rows


def _results(
    answer: Any, expected: int, system: str, object_type: str | None
) -> list[dict[str, Any]]:
    """The query results of a Composite answer, in request order; a refused subrequest raises
    as simple-salesforce raises a refused request, anything unreadable as a transient error."""
    results = answer.get("compositeResponse") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != expected:
        raise TransientError(
            "composite: malformed response body (not one result per subrequest)",
            system=system,
            object_type=object_type,
        )
    bodies: list[dict[str, Any]] = []
    for position, result in enumerate(results):
        if not isinstance(result, dict) or result.get("referenceId") != f"q{position}":
            raise TransientError(
                "composite: malformed response body (results out of order)",
                system=system,
                object_type=object_type,
            )
        status, body = result.get("httpStatusCode"), result.get("body")
        if not isinstance(status, int) or status >= 300:
            # simple-salesforce hands its errors the parsed body too, whatever it annotates.
            code = status if isinstance(status, int) else 500
            raise SalesforceError("composite", code, "composite", cast(bytes, body))
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise TransientError(
                "query: malformed response body (no list of records)",
                system=system,
                object_type=object_type,
            )
        bodies.append(body)
    return bodies
