"""Salesforce connector: simple-salesforce for REST, SOQL on SystemModstamp, composite writes."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_soql

from consent_sync.connectors._http import TimeoutSession
from consent_sync.connectors.base import (
    ConnectorError,
    FieldInfo,
    FieldWrite,
    Page,
    PermanentError,
    Quota,
    QuotaExhausted,
    Record,
    TransientError,
    WriteResult,
)
from consent_sync.connectors.retry import RetryPolicy, call_with_retry, parse_retry_after
from consent_sync.connectors.salesforce_auth import SalesforceCredentials, Token, fetch_token

T = TypeVar("T")
log = structlog.get_logger(__name__)

SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
COMPOSITE_LIMIT = 200  # records per PATCH /composite/sobjects
READ_CHUNK = 200  # ids per `Id IN (...)` query, well under the URI length limit
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TRANSIENT_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"}
)
_GONE_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})


def parse_sf_datetime(value: str) -> datetime:
    """Salesforce's `2024-01-02T03:04:05.000+0000` as an aware UTC datetime."""
    text = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class SalesforceSettings:
    """Connector settings, resolved from `connectors/<name>.yaml` and the environment."""

    credentials: SalesforceCredentials
    fields: Mapping[str, Sequence[str]]  # object type -> fields to pull (match + consent)
    name: str = "salesforce"
    api_version: str = "59.0"
    ca_file: str | None = None
    timeout: float = 30.0
    page_size: int = 2000
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class SalesforceConnector:
    """Pulls, reads and writes Contact/Lead consent fields through simple-salesforce."""

    def __init__(self, settings: SalesforceSettings) -> None:
        for object_type, names in settings.fields.items():
            for name in (object_type, *names):
                if not _FIELD_NAME.match(name):
                    raise PermanentError(
                        f"not a Salesforce API name: {name!r}", system=settings.name
                    )
        self.settings = settings
        self.name = settings.name
        self._session = TimeoutSession(settings.timeout, settings.ca_file)
        self._session.hooks["response"].append(self._observe_response)
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._client: Salesforce | None = None
        self._quota = Quota()
        self._retry_after: float | None = None
        self.api_calls = 0

    # -- plumbing -------------------------------------------------------------------------

    def _observe_response(self, response: requests.Response, *_: Any, **__: Any) -> None:
        self.api_calls += 1
        info = response.headers.get("Sforce-Limit-Info", "")
        match = re.search(r"api-usage=(\d+)/(\d+)", info)
        if match:
            self._quota = Quota(int(match.group(1)), int(match.group(2)))
        self._retry_after = parse_retry_after(
            response.headers.get("Retry-After"), datetime.now(UTC)
        )

    def _sf(self) -> Salesforce:
        with self._lock:
            if self._client is None:
                s = self.settings
                self._token = fetch_token(s.credentials, ca_file=s.ca_file, timeout=s.timeout)
                self._client = Salesforce(
                    instance_url=self._token.instance_url,
                    session_id=self._token.access_token,
                    session=self._session,
                    version=s.api_version,
                )
            return self._client

    def _call(self, what: str, fn: Callable[[Salesforce], T], object_type: str | None = None) -> T:
        """Run one API call with the shared retry policy and one re-auth on INVALID_SESSION_ID."""
        reauthed = False

        def attempt() -> T:
            nonlocal reauthed
            try:
                return fn(self._sf())
            except SalesforceError as exc:
                error = self._classify(exc, what, object_type)
                if error.status == 401 and not reauthed:
                    reauthed = True
                    with self._lock:
                        self._client = None
                    raise TransientError(
                        "session expired; re-authenticating", system=self.name, retry_after=0.0
                    ) from exc
                raise error from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientError(
                    f"{what}: {type(exc).__name__}", system=self.name, object_type=object_type
                ) from exc
            except requests.exceptions.ChunkedEncodingError as exc:
                raise TransientError(
                    f"{what}: connection dropped mid-response",
                    system=self.name,
                    object_type=object_type,
                ) from exc
            except ValueError as exc:  # a truncated or malformed JSON body
                raise TransientError(
                    f"{what}: malformed response body", system=self.name, object_type=object_type
                ) from exc

        return call_with_retry(attempt, self.settings.retry)

    def _classify(self, exc: SalesforceError, what: str, object_type: str | None) -> ConnectorError:
        codes = _error_codes(exc.content)
        message = f"{what}: HTTP {exc.status} {','.join(codes) or ''}".strip()
        ctx: dict[str, Any] = {"system": self.name, "object_type": object_type}
        if exc.status == 401:
            return PermanentError(message, status=401, **ctx)
        if exc.status == 403 and "REQUEST_LIMIT_EXCEEDED" in codes:
            return QuotaExhausted(message, status=403, **ctx)
        if exc.status == 429 or exc.status >= 500 or _TRANSIENT_CODES & set(codes):
            return TransientError(message, retry_after=self._retry_after, status=exc.status, **ctx)
        return PermanentError(message, status=exc.status, **ctx)

    # -- the protocol ---------------------------------------------------------------------

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        """Records (deleted ones included) with SystemModstamp >= since, oldest first."""
        names = ", ".join(dict.fromkeys((*SYSTEM_FIELDS, *self.settings.fields[object_type])))
        if since is None:
            soql = format_soql(
                f"SELECT {names} FROM {object_type} ORDER BY SystemModstamp, Id"  # noqa: S608
            )
        else:
            soql = format_soql(
                f"SELECT {names} FROM {object_type} "  # noqa: S608
                "WHERE SystemModstamp >= {since} ORDER BY SystemModstamp, Id",
                since=since,
            )
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.page_size}"}
        result = self._call(
            "query", lambda sf: sf.query(soql, include_deleted=True, headers=headers), object_type
        )
        while True:
            yield self._page(object_type, result["records"])
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return

            def more(sf: Salesforce, url: str = next_url) -> Any:
                return sf.query_more(url, identifier_is_url=True, headers=headers)

            result = self._call("query_more", more, object_type)

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        """The current state of the given records, in chunks of 200 ids."""
        names = ", ".join(dict.fromkeys((*SYSTEM_FIELDS, *self.settings.fields[object_type])))
        out: list[Record] = []
        for start in range(0, len(record_ids), READ_CHUNK):
            chunk = list(record_ids[start : start + READ_CHUNK])
            soql = format_soql(
                f"SELECT {names} FROM {object_type} WHERE Id IN {{ids}}",  # noqa: S608
                ids=chunk,
            )

            def query_all(sf: Salesforce, q: str = soql) -> Any:
                return sf.query_all(q)

            result = self._call("read", query_all, object_type)
            out.extend(self._page(object_type, result["records"]).records)
        return out

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """PATCH /composite/sobjects, 200 records a call, allOrNone false: per-record results."""
        results: list[WriteResult] = []
        for start in range(0, len(writes), COMPOSITE_LIMIT):
            batch = writes[start : start + COMPOSITE_LIMIT]
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": object_type}, "id": w.record_id, **w.values}
                    for w in batch
                ],
            }

            def patch(sf: Salesforce, b: dict[str, Any] = body) -> Any:
                return sf.restful("composite/sobjects", method="PATCH", json=b)

            answer = self._call("composite update", patch, object_type)
            results.extend(_write_results(batch, answer or []))
        return results

    def describe(self, object_type: str) -> list[FieldInfo]:
        """Fields of the object as `/sobjects/<type>/describe` reports them."""
        described = self._call(
            "describe", lambda sf: sf.restful(f"sobjects/{object_type}/describe"), object_type
        )
        return [
            FieldInfo(
                f["name"],
                f["type"],
                bool(f.get("updateable")),
                tuple(p["value"] for p in f.get("picklistValues") or () if p.get("active", True)),
            )
            for f in (described or {}).get("fields", [])
        ]

    def quota(self) -> Quota:
        return self._quota

    def close(self) -> None:
        self._session.close()

    def _page(self, object_type: str, rows: Sequence[Mapping[str, Any]]) -> Page:
        records = [
            Record(
                object_type,
                str(row["Id"]),
                {k: v for k, v in row.items() if k != "attributes"},
                parse_sf_datetime(str(row["SystemModstamp"])),
                deleted=bool(row.get("IsDeleted")),
            )
            for row in rows
        ]
        watermark = max((r.modified_at for r in records), default=None)
        return Page(records, watermark)


def _error_codes(content: Any) -> list[str]:
    if isinstance(content, list):
        return [str(e.get("errorCode")) for e in content if isinstance(e, dict)]
    if isinstance(content, dict) and "errorCode" in content:
        return [str(content["errorCode"])]
    return []


def _write_results(
    batch: Sequence[FieldWrite], answer: Sequence[Mapping[str, Any]]
) -> list[WriteResult]:
    results: list[WriteResult] = []
    for write, outcome in zip(batch, answer, strict=False):
        if outcome.get("success"):
            results.append(WriteResult(write.record_id, True))
            continue
        errors = outcome.get("errors") or []
        codes = {str(e.get("statusCode")) for e in errors}
        message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors)
        results.append(
            WriteResult(
                write.record_id,
                False,
                message or "unknown error",
                retryable=bool(codes & _TRANSIENT_CODES),
                gone=bool(codes & _GONE_CODES),
            )
        )
    for write in batch[len(answer) :]:
        results.append(WriteResult(write.record_id, False, "no result returned", retryable=True))
    return results
