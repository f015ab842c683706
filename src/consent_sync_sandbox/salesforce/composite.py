"""The Composite resource, `POST /composite`: several REST requests in one call, which counts as
a single call toward the API limits (REST API guide, "Send Multiple Requests Using Composite").

The request body is `{"allOrNone": bool, "compositeRequest": [{"method", "url", "referenceId",
"httpHeaders"?, "body"?}, ...]}`: at most 25 subrequests, of which at most 5 query operations
(Query, QueryAll, and Query More for a result's next page). Each subrequest is answered in
request order as `{"body", "httpHeaders", "httpStatusCode", "referenceId"}`; a failed one
carries Salesforce's error list as its body and the others still run. With `allOrNone` true a
failure halts the rest: every other result becomes 400 PROCESSING_HALTED (the guide: "all other
subrequests return the 400 HTTP status code"). A body malformed as a whole (no subrequests, too
many, a referenceId missing or used twice, a header the top-level request owns) is refused with
one 400 before anything runs.

The emulator serves query subrequests only (GET `/services/data/vXX.X/query/?q=...`,
`queryAll/?q=...`, `query/<locator>`), with `Sforce-Query-Options` honoured from `httpHeaders`;
it does not resolve references between subrequests (`@{ref.field}`). A request asking for
anything else is refused as a whole, so a client relying on more finds out at once. The
wording of the limit errors is the emulator's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from consent_sync_sandbox.salesforce.errors import SalesforceError
from consent_sync_sandbox.salesforce.org import DEFAULT_BATCH, Org, json_error, not_found
from consent_sync_sandbox.salesforce.schema import API_VERSIONS

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
#: Headers every subrequest inherits from the top-level request and may not set itself.
INHERITED_HEADERS = frozenset({"accept", "authorization", "content-type"})
_REFERENCE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_QUERY_PATH = re.compile(r"^/services/data/v(\d+\.\d)/(query|queryAll)(?:/([^/]*))?$")
_HALTED = {
    "errorCode": "PROCESSING_HALTED",
    "message": "The transaction was rolled back since another operation in the same "
    "transaction failed.",
}
Result = dict[str, Any]


def _invalid(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALID_INPUT", message)


@dataclass(frozen=True, slots=True)
class _Subquery:
    """One query subrequest, checked: its reference, resource and what it asks."""

    reference: str
    version: str
    include_deleted: bool
    cursor: str | None  # Query More: `<locator>-<offset>` of a `nextRecordsUrl`
    soql: str
    batch: int


def _subrequests(payload: Any) -> tuple[list[_Subquery], bool]:
    """The subrequests and allOrNone of a composite body, or the 400 refusing it whole."""
    if not isinstance(payload, dict):
        raise json_error()
    requests = payload.get("compositeRequest")
    if not isinstance(requests, list) or not requests:
        raise _invalid("compositeRequest: at least one subrequest is required")
    if len(requests) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400,
            "LIMIT_EXCEEDED",
            f"Exceeded max limit of subrequests, limit is {MAX_SUBREQUESTS}",
        )
    seen: set[str] = set()
    checked = []
    for request in requests:
        checked.append(_subquery(request, seen))
    if len(checked) > MAX_QUERIES:  # every subrequest served here is a query operation
        raise SalesforceError(
            400,
            "LIMIT_EXCEEDED",
            f"Exceeded max limit of query subrequests, limit is {MAX_QUERIES}",
        )
    return checked, payload.get("allOrNone") is True


def _subquery(request: Any, seen: set[str]) -> _Subquery:
    if not isinstance(request, dict):
        raise json_error()
    reference = request.get("referenceId")
    if not isinstance(reference, str) or not _REFERENCE_ID.match(reference):
        raise _invalid(f"Invalid referenceId: {reference!r}")
    if reference in seen:
        raise _invalid(f"Duplicate ReferenceId provided in the request: {reference}")
    seen.add(reference)
    headers = request.get("httpHeaders") or {}
    if not isinstance(headers, dict) or INHERITED_HEADERS & {str(h).lower() for h in headers}:
        raise _invalid(
            f"{reference}: httpHeaders may not set Accept, Authorization or Content-Type"
        )
    url = request.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    matched = _QUERY_PATH.match(parts.path) if parts is not None else None
    if request.get("method") != "GET" or parts is None or matched is None:
        raise _invalid(
            f"{reference}: this emulator serves GET query, queryAll and query-more subrequests only"
        )
    if "@{" in str(url):
        raise _invalid(f"{reference}: references between subrequests are not emulated")
    version, endpoint, cursor = matched.groups()
    return _Subquery(
        reference,
        version,
        endpoint == "queryAll",
        cursor,
        parse_qs(parts.query).get("q", [""])[0],
        _batch_size(headers),
    )


def _batch_size(headers: dict[str, Any]) -> int:
    """`Sforce-Query-Options: batchSize=N` from a subrequest's headers, clamped to 200..2000."""
    options = next((str(v) for k, v in headers.items() if k.lower() == "sforce-query-options"), "")
    for option in options.split(","):
        name, _, value = option.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return min(DEFAULT_BATCH, max(200, int(value.strip())))
    return DEFAULT_BATCH


def _query(org: Org, query: _Subquery) -> Any:
    """Run one query subrequest as the REST query resource would."""
    if query.version not in API_VERSIONS:
        raise not_found()
    if query.cursor:
        return org.query_more(query.cursor, query.version)
    if not query.soql:
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
    return org.query(
        query.soql,
        include_deleted=query.include_deleted,
        batch=query.batch,
        version=query.version,
    )


def run_composite(org: Org, payload: Any) -> dict[str, list[Result]]:
    """Every subrequest's result, in request order (`{"compositeResponse": [...]}`)."""
    queries, all_or_none = _subrequests(payload)
    results: list[Result] = []
    failure: int | None = None
    for index, query in enumerate(queries):
        if failure is not None and all_or_none:
            results.append(_result(query.reference, 400, [_HALTED]))
            continue
        try:
            results.append(_result(query.reference, 200, _query(org, query)))
        except SalesforceError as exc:
            failure = index if failure is None else failure
            results.append(_result(query.reference, exc.status, exc.body()))
    if failure is not None and all_or_none:  # those before the failure are rolled back too
        for index in range(failure):
            results[index] = _result(results[index]["referenceId"], 400, [_HALTED])
    return {"compositeResponse": results}


def _result(reference: str, status: int, body: Any) -> Result:
    return {"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}
