"""Salesforce connector: simple-salesforce for REST, SOQL on SystemModstamp, composite writes."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import requests
import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.format import format_soql

from consent_sync.connectors.http import TimeoutSession
from consent_sync.connectors.protocol import (
    AuthError,
    ConnectorError,
    PermanentError,
    QuotaExhausted,
    TransientError,
)
from consent_sync.connectors.ratelimit import TokenBucket
from consent_sync.connectors.retry import RetryPolicy, call_with_retry, parse_retry_after
from consent_sync.connectors.salesforce.auth import SalesforceCredentials, fetch_token
from consent_sync.connectors.salesforce.bulk import BulkQuery, BulkSettings
from consent_sync.connectors.salesforce.consent_model import ConsentModel
from consent_sync.connectors.salesforce.consent_records import ConsentObject
from consent_sync.connectors.salesforce.full_read import full_read
from consent_sync.connectors.salesforce.implied_records import ImpliedRecords, ImpliedRevocations
from consent_sync.connectors.salesforce.incremental import incremental_read
from consent_sync.connectors.salesforce.results import (
    TRANSIENT_CODES,
    error_details,
    is_record_id,
    parse_http_date,
    parse_limit_info,
    record_from_row,
)
from consent_sync.connectors.salesforce.writes import write_batch
from consent_sync.connectors.window import SeenWindow
from consent_sync.domain.records import (
    FieldInfo,
    FieldWrite,
    Page,
    Quota,
    Record,
    WriteResult,
)

T = TypeVar("T")
log = structlog.get_logger(__name__)

SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
COMPOSITE_LIMIT = 200  # records per PATCH /composite/sobjects
#: Due writes one push round claims: 25 composite calls' worth (`write_batch_size`).
PUSH_ROUND = 25 * COMPOSITE_LIMIT
READ_CHUNK = 200  # ids per `Id IN (...)` query, well under the URI length limit
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
    requests_per_second: float | None = None  # client-side budget; None: unthrottled
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: A full read of an object holding more records than this runs as a Bulk API 2.0 query job.
    bulk_threshold: int = 10_000
    bulk: BulkSettings = field(default_factory=BulkSettings)
    #: The engine's lookback: how far behind the cursor pulls read (what is remembered).
    lookback_seconds: float = 300.0
    #: Consent-records objects (ContactPointTypeConsent, ContactPointConsent), by type.
    consent: Mapping[str, ConsentObject] = field(default_factory=dict)
    #: Contact and Lead fields whose denial a ContactPointTypeConsent also records.
    implied: ImpliedRecords = field(default_factory=dict)


@dataclass
class _Operation:
    """One logical API call across its retries: it may re-authenticate once."""

    what: str
    object_type: str | None
    reauthed: bool = False


class SalesforceConnector:
    """Pulls, reads and writes Contact/Lead consent fields and consent records (Salesforce's
    consent data model) through simple-salesforce."""

    def __init__(self, settings: SalesforceSettings) -> None:
        named = [*settings.fields.items(), *((t, o.select()) for t, o in settings.consent.items())]
        for object_type, names in named:
            for name in (object_type, *names):
                if not _FIELD_NAME.match(name):
                    raise PermanentError(
                        f"not a Salesforce API name: {name!r}", system=settings.name
                    )
        self.settings = settings
        self.name = settings.name
        rate = settings.requests_per_second
        self._session = TimeoutSession(
            settings.timeout, settings.ca_file, TokenBucket(rate) if rate else None
        )
        self._session.hooks["response"].append(self._observe_response)
        self._lock = threading.Lock()
        self._last = threading.local()  # Retry-After of this thread's latest response
        self._client: Salesforce | None = None
        self._quota = Quota()
        self._api_calls = 0
        self._types: dict[str, dict[str, str]] = {}
        self._windows: dict[str, SeenWindow] = {}
        self.bulk_rows_held = 0  # most result rows a query job's stream held at once
        self._credentials = settings.credentials  # a rotated refresh token replaces its own
        self.consent = ConsentModel(settings.consent, self._call, system=self.name)
        individuals = any(o.create_individual for o in settings.consent.values())
        self.implied = ImpliedRevocations(
            self.consent, settings.implied, create_individual=individuals
        )

    @property
    def api_calls(self) -> int:
        """HTTP requests sent so far (token requests excepted), retries included."""
        return self._api_calls

    # -- plumbing -------------------------------------------------------------------------

    def _observe_response(self, response: requests.Response, *_: Any, **__: Any) -> None:
        self._api_calls += 1
        quota = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if quota is not None:
            self._quota = quota
        self._last.date = parse_http_date(response.headers.get("Date"))
        self._last.retry_after = parse_retry_after(
            response.headers.get("Retry-After"),
            datetime.now(UTC),
            self.settings.retry.retry_after_ceiling,
        )

    def _sf(self) -> Salesforce:
        with self._lock:
            if self._client is None:
                s = self.settings
                token = fetch_token(
                    self._credentials, ca_file=s.ca_file, timeout=s.timeout, system=self.name
                )
                if token.refresh_token:  # rotated: the one given is spent (kept in memory only)
                    rotated = replace(self._credentials, refresh_token=token.refresh_token)
                    self._credentials = rotated
                # A session id makes simple-salesforce skip its own login and refresh:
                # expired sessions come back to `_once` as 401s.
                self._client = Salesforce(
                    instance_url=token.instance_url,
                    session_id=token.access_token,
                    session=self._session,
                    version=s.api_version,
                )
            return self._client

    def _once(self, op: _Operation, fn: Callable[[Salesforce], T]) -> T:
        """One try of `op`, its failure translated into the connector's typed errors."""
        ctx: dict[str, Any] = {"system": self.name, "object_type": op.object_type}
        try:
            return fn(self._sf())
        except SalesforceError as exc:
            if exc.status == 401 and not op.reauthed:
                op.reauthed = True
                with self._lock:
                    self._client = None
                raise TransientError(
                    f"{op.what}: session expired; re-authenticating", retry_after=0.0, **ctx
                ) from exc
            raise self._classify(exc, op) from exc
        except requests.exceptions.SSLError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise PermanentError(
                    f"{op.what}: the server certificate is not trusted (check ca_file)", **ctx
                ) from exc
            raise TransientError(f"{op.what}: TLS failure", **ctx) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"{op.what}: {type(exc).__name__}", **ctx) from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise TransientError(f"{op.what}: connection dropped mid-response", **ctx) from exc
        except requests.exceptions.JSONDecodeError as exc:
            raise TransientError(f"{op.what}: malformed response body", **ctx) from exc
        except requests.RequestException as exc:
            raise PermanentError(f"{op.what}: {type(exc).__name__}", **ctx) from exc

    def _call(self, what: str, fn: Callable[[Salesforce], T], object_type: str | None = None) -> T:
        """Run one API call with the shared retry policy and one re-auth on INVALID_SESSION_ID."""
        op = _Operation(what, object_type)
        return call_with_retry(lambda: self._once(op, fn), self.settings.retry)

    def _classify(self, exc: SalesforceError, op: _Operation) -> ConnectorError:
        codes, detail = error_details(exc.content)
        message = f"{op.what}: HTTP {exc.status} {','.join(codes)} {detail}".strip()
        ctx: dict[str, Any] = {
            "system": self.name,
            "object_type": op.object_type,
            "status": exc.status,
            "code": codes[0] if codes else None,
        }
        if exc.status == 401:
            return AuthError(f"{message} (after re-authenticating)", **ctx)
        if exc.status == 403 and "REQUEST_LIMIT_EXCEEDED" in codes:
            # The daily total is spent until the window rolls; a concurrency limit frees soon.
            if "concurrent" not in detail.lower():
                return QuotaExhausted(message, **ctx)
            return TransientError(message, retry_after=self._last_retry_after(), **ctx)
        if exc.status == 429 or exc.status >= 500 or TRANSIENT_CODES & set(codes):
            return TransientError(message, retry_after=self._last_retry_after(), **ctx)
        return PermanentError(message, **ctx)

    def _last_retry_after(self) -> float | None:
        return getattr(self._last, "retry_after", None)

    def _names(self, object_type: str) -> str:
        consent = self.settings.consent.get(object_type)
        fields = consent.select() if consent else self.settings.fields.get(object_type)
        if fields is None:
            raise PermanentError(
                "object is not configured", system=self.name, object_type=object_type
            )
        return ", ".join(dict.fromkeys((*SYSTEM_FIELDS, *fields)))

    # -- the protocol ---------------------------------------------------------------------

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        """Records (deleted ones included) with SystemModstamp >= since, oldest first.

        `since` is compared to the second (SOQL datetime literals carry no fraction). A full
        read (`since` None) of an object holding more than `bulk_threshold` records runs as a
        Bulk API 2.0 query job (`full_read.py`). Records a completed pull already delivered with
        the same stamp are not delivered again, and when the window's newest page and its count
        show nothing else is new, that one call is the whole pull (`connectors/window.py`).
        """
        window = self._window(object_type)
        if since is None:
            pages = full_read(self, object_type, window)
        else:
            pages = incremental_read(self, object_type, since, window)
        if self.consent.handles(object_type):  # each record's person and state, after the window
            pages = self.consent.refreshed(pages, object_type, since, self._names(object_type))
        yield from pages

    def scan(self, object_type: str, since: datetime | None, result: Any) -> Iterator[Page]:
        """The pages of a REST query from its first answer, following `nextRecordsUrl`.

        A query cursor Salesforce closed (idle 15 minutes, or past 10 open per user) is resumed
        from the last page's watermark.
        """
        resumed_at: datetime | None = None
        while True:
            page = self._page(object_type, self._rows(result, object_type))
            yield page
            since = page.watermark or since
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return

            def more(sf: Salesforce, url: str = next_url) -> Any:
                return sf.query_more(url, identifier_is_url=True, headers=self._query_options)

            try:
                result = self._call("query_more", more, object_type)
            except PermanentError as exc:
                if exc.code != "INVALID_QUERY_LOCATOR" or since is None or since == resumed_at:
                    raise
                log.info("query cursor closed; resuming", system=self.name, since=str(since))
                resumed_at = since
                result = self._query(object_type, since)

    @property
    def _query_options(self) -> dict[str, str]:
        return {"Sforce-Query-Options": f"batchSize={self.settings.page_size}"}

    def full_soql(self, object_type: str) -> str:
        """The SOQL of a full read, without ORDER BY (a query job is asked not to sort)."""
        where = self._conditions(object_type, None)
        return f"SELECT {self._names(object_type)} FROM {object_type}{where}"  # noqa: S608

    def _conditions(self, object_type: str, since: datetime | None) -> str:
        """A read's WHERE clause: changed since `since`, of mapped data use purposes only."""
        conditions = [format_soql("SystemModstamp >= {since}", since=since)] if since else []
        if self.consent.handles(object_type):
            conditions.append(self.consent.condition(object_type))
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    def _query(
        self, object_type: str, since: datetime | None, *, newest_first: bool = False
    ) -> Any:
        names, where = self._names(object_type), self._conditions(object_type, since)
        order = "SystemModstamp DESC, Id DESC" if newest_first else "SystemModstamp, Id"
        soql = f"SELECT {names} FROM {object_type}{where} ORDER BY {order}"  # noqa: S608

        def query(sf: Salesforce) -> Any:
            return sf.query(soql, include_deleted=True, headers=self._query_options)

        return self._call("query", query, object_type)

    def newest(self, object_type: str, since: datetime) -> tuple[list[Record], int | None]:
        """The newest page of records stamped at or after `since`, and how many there are."""
        answer = self._query(object_type, since, newest_first=True)
        total = answer.get("totalSize")
        records = list(self._page(object_type, self._rows(answer, object_type)).records)
        return records, total if isinstance(total, int) else None

    def changed_since(self, object_type: str, since: datetime) -> Iterator[Page]:
        """Every record stamped at or after `since`, oldest first, page by page (REST)."""
        return self.scan(object_type, since, self._query(object_type, since))

    def first_page(self, object_type: str) -> tuple[Any, datetime | None]:
        """A full read's first REST answer (its `totalSize` counts the object) and the server's
        clock when it answered (`Date`, to the second; None without one)."""
        result = self._query(object_type, None)
        return result, getattr(self._last, "date", None)

    def bulk_query(self, object_type: str) -> BulkQuery:
        """A query job runner for the object, through this connector's calls and retries."""

        def call(what: str, fn: Callable[[Salesforce], Any]) -> Any:
            return self._call(what, fn, object_type)

        return BulkQuery(
            call,
            replace(self.settings.bulk, page_size=self.settings.page_size),
            system=self.name,
            object_type=object_type,
            field_types=self._field_types(object_type),
        )

    def _field_types(self, object_type: str) -> dict[str, str]:
        types = self._types.get(object_type)
        if types is None:
            types = {f.name: f.type for f in self.describe(object_type)}
            self._types[object_type] = types
        return types

    def _window(self, object_type: str) -> SeenWindow:
        window = self._windows.get(object_type)
        if window is None:
            window = SeenWindow(timedelta(seconds=self.settings.lookback_seconds))
            self._windows[object_type] = window
        return window

    def page(self, object_type: str, rows: Sequence[Any]) -> Page:
        """Rows as REST returns them, as a page of records."""
        return self._page(object_type, rows)

    def stamps_every_change(self, object_type: str) -> bool:
        """Whether a completed pull returns every record changed since its cursor (minus the
        lookback), so the engine may skip read-backs of what it did not return
        (sync/recent.py): Contact and Lead, whose SystemModstamp moves with every change and
        which SOQL queries without a lagging index; not consent records, whose person and
        state are read from other objects."""
        return object_type in self.settings.fields and not self.consent.handles(object_type)

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        """The current state of the given records, 200 ids a query.

        Records in the recycle bin come back with `deleted=True` (queryAll); purged, unknown
        and malformed ids are left out.
        """
        names = self._names(object_type)
        wellformed = [i for i in record_ids if is_record_id(i)]
        if len(wellformed) < len(record_ids):
            log.warning(
                "malformed record ids skipped",
                system=self.name,
                object_type=object_type,
                count=len(record_ids) - len(wellformed),
            )
        out: list[Record] = []
        for start in range(0, len(wellformed), READ_CHUNK):
            chunk = wellformed[start : start + READ_CHUNK]
            soql = format_soql(
                f"SELECT {names} FROM {object_type} WHERE Id IN {{ids}}",  # noqa: S608
                ids=chunk,
            )

            def query_all(sf: Salesforce, q: str = soql) -> Any:
                return sf.query_all(q, include_deleted=True)

            result = self._call("read", query_all, object_type)
            out.extend(self._page(object_type, self._rows(result, object_type)).records)
        return self.consent.resolve(object_type, out) if self.consent.handles(object_type) else out

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """PATCH /composite/sobjects, 200 records a call, allOrNone false: per-record results
        (`writes.py`). A consent record is written as Salesforce records a decision; a
        revocation written to a Contact or Lead also creates the consent record it implies
        (`implied_records.py`), reported in that record's `WriteResult.created`. Auth, quota
        and other request-level refusals raise.
        """
        sendable, refused = self.consent.outgoing(object_type, writes)
        sent: dict[str, WriteResult] = {}
        for start in range(0, len(sendable), COMPOSITE_LIMIT):
            op = _Operation("composite update", object_type)
            batch = sendable[start : start + COMPOSITE_LIMIT]
            once = partial(self._once, op)
            retry = self.settings.retry
            for result in write_batch(once, object_type, batch, system=self.name, retry=retry):
                sent[result.record_id] = result
        results = [refused.get(w.record_id) or sent[w.record_id] for w in writes]
        created = self.implied.written(object_type, writes, results)
        return [
            replace(r, created=created[r.record_id]) if r.record_id in created else r
            for r in results
        ]

    def write_batch_size(self) -> int:
        """How many due writes one push round claims (`sync/engine.py`, `push_batch`).

        A round's writes go out per object, 200 records a call, so each object's last call of
        a round is partly empty: with rounds of 200 values shared by Contacts, Leads and two
        consent objects, most calls carried a fraction of 200 (a 100,000-contact backfill made
        149 write calls for 9,411 values). Rounds of PUSH_ROUND leave one partial call per
        object in 25; each object's part of a round is still settled in one transaction, and a
        round cut short is written again (the writes are idempotent).
        """
        return PUSH_ROUND

    def data_use_purposes(self) -> dict[str, bool]:
        """The org's DataUsePurpose names and whether each is active (`validate --live`)."""
        return dict(self.consent.data_use_purposes().values())

    def describe(self, object_type: str) -> list[FieldInfo]:
        """Fields of the object as `/sobjects/<type>/describe` reports them."""
        if not _FIELD_NAME.match(object_type):  # it becomes part of the URL path
            raise PermanentError(f"not a Salesforce API name: {object_type!r}", system=self.name)
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
        """Daily API requests used and allowed, from the latest `Sforce-Limit-Info` header."""
        return self._quota

    def close(self) -> None:
        self._session.close()

    def _rows(self, result: Any, object_type: str) -> list[Any]:
        """The records of a query answer; an answer without a list of them is malformed."""
        rows = result.get("records") if isinstance(result, dict) else None
        if not isinstance(rows, list):
            raise TransientError(
                "query: malformed response body (no list of records)",
                system=self.name,
                object_type=object_type,
            )
        return rows

    def _page(self, object_type: str, rows: Sequence[Any]) -> Page:
        """The rows as records; one whose id, stamp or deletion flag will not parse is a broken
        record (its conflict), never the page's end (docs/design.md, "Containment")."""
        records = [record_from_row(object_type, row) for row in rows]
        watermark = max((r.modified_at for r in records if r.readable), default=None)
        return Page(records, watermark)
