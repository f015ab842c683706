"""HubSpot connector: hubspot-api-client for CRM contacts, httpx for Communication Preferences v4.

Email subscriptions are read-only contact properties (`hs_email_optout_<id>`); their exact status
and its own timestamp come from `POST /communication-preferences/v4/statuses/batch/read`, and
they are written with `.../v4/statuses/batch/write`, which (unlike v3) can re-subscribe.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import httpx
import structlog
import urllib3
from hubspot import HubSpot
from hubspot.communication_preferences.exceptions import ApiException as PrefsApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from consent_sync.connectors.base import (
    AuthError,
    ConnectorError,
    FieldInfo,
    FieldWrite,
    Page,
    PermanentError,
    Quota,
    Record,
    TransientError,
    WriteResult,
)
from consent_sync.connectors.ratelimit import TokenBucket
from consent_sync.connectors.retry import RetryPolicy, call_with_retry, parse_retry_after

T = TypeVar("T")
log = structlog.get_logger(__name__)

OBJECT_TYPE = "contacts"
SEARCH_LIMIT = 200  # results per search page
SEARCH_CAP = 10_000  # the search API never pages past this; re-window before it
LIST_LIMIT = 100  # results per list page
BATCH_LIMIT = 100  # inputs per batch read/update and per v4 batch call
_API_ERRORS = (ContactsApiException, PropertiesApiException, PrefsApiException)
_LEGAL_BASIS = {
    "consent": "CONSENT_WITH_NOTICE",
    "legitimate_interest": "LEGITIMATE_INTEREST_OTHER",
    "contract": "PERFORMANCE_OF_CONTRACT",
    "non_gdpr": "NON_GDPR",
}


def parse_hs_datetime(value: str | datetime) -> datetime:
    """HubSpot's ISO timestamps (`2024-01-02T03:04:05.678Z`) as aware UTC datetimes."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class HubSpotSettings:
    """Connector settings, resolved from `connectors/<name>.yaml` and the environment."""

    access_token: str
    properties: Sequence[str]  # contact properties to pull: match keys and consent properties
    subscriptions: Mapping[str, str]  # mapping field name -> subscription id or name
    name: str = "hubspot"
    base_url: str = "https://api.hubapi.com"
    ca_file: str | None = None
    timeout: float = 30.0
    requests_per_second: float = 10.0
    searches_per_second: float = 4.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __repr__(self) -> str:
        return f"HubSpotSettings(name={self.name!r}, base_url={self.base_url!r})"


class HubSpotConnector:
    """Pulls, reads and writes contact consent through the official client and v4 over httpx."""

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self._client = HubSpot(
            access_token=settings.access_token,
            host=settings.base_url.rstrip("/"),
            ssl_ca_cert=settings.ca_file,
            retry=urllib3.Retry(total=0, redirect=0, raise_on_status=False),
        )
        self._http = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {settings.access_token}"},
            verify=settings.ca_file or True,
            timeout=settings.timeout,
            event_hooks={"response": [self._observe_httpx]},
        )
        self._budget = TokenBucket(settings.requests_per_second)
        self._search_budget = TokenBucket(settings.searches_per_second)
        self._subscription_ids: dict[str, str] | None = None
        self._quota = Quota()
        self._lock = threading.Lock()
        self.api_calls = 0

    # -- plumbing -------------------------------------------------------------------------

    def _observe_httpx(self, response: httpx.Response) -> None:
        self._note_headers(response.headers)

    def _note_headers(self, headers: Mapping[str, str]) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        daily = lowered.get("x-hubspot-ratelimit-daily")
        remaining = lowered.get("x-hubspot-ratelimit-daily-remaining")
        if daily and remaining and daily.isdigit() and remaining.isdigit():
            self._quota = Quota(int(daily) - int(remaining), int(daily))

    def _call(self, what: str, fn: Callable[[], T], *, search: bool = False) -> T:
        """One API call under the rate budget and the shared retry policy."""

        def attempt() -> T:
            (self._search_budget if search else self._budget).acquire()
            with self._lock:
                self.api_calls += 1
            try:
                return fn()
            except _API_ERRORS as exc:
                raise self._classify(what, exc.status, exc.headers or {}, exc.body) from exc
            except httpx.HTTPStatusError as exc:
                response = exc.response
                raise self._classify(
                    what, response.status_code, response.headers, response.text
                ) from exc
            except (urllib3.exceptions.HTTPError, httpx.TransportError) as exc:
                raise TransientError(f"{what}: {type(exc).__name__}", system=self.name) from exc
            except ValueError as exc:  # a truncated or malformed JSON body
                raise TransientError(f"{what}: malformed response body", system=self.name) from exc

        return call_with_retry(attempt, self.settings.retry)

    def _classify(
        self, what: str, status: int | None, headers: Mapping[str, str], body: Any
    ) -> ConnectorError:
        self._note_headers(headers)
        category = ""
        if body:
            try:
                parsed = json.loads(body) if isinstance(body, str | bytes) else body
                category = str(parsed.get("category") or parsed.get("policyName") or "")
            except (ValueError, AttributeError):
                category = ""
        message = f"{what}: HTTP {status} {category}".strip()
        code = status or 0
        if code == 401:
            return AuthError(message, system=self.name, status=code)
        if code == 429 or code >= 500 or code == 0:
            retry_after = parse_retry_after(
                {k.lower(): v for k, v in headers.items()}.get("retry-after"), datetime.now(UTC)
            )
            if code == 429 and retry_after is None:
                retry_after = 1.0  # HubSpot's windows are 1 s (search) and 10 s (general)
            return TransientError(message, retry_after=retry_after, system=self.name, status=code)
        return PermanentError(message, system=self.name, status=code)

    def _v4(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        def post() -> dict[str, Any]:
            response = self._http.post(path, params={"channel": "EMAIL"}, json=body)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        return self._call(path, post)

    def subscription_ids(self) -> dict[str, str]:
        """Mapping field name -> HubSpot subscription id, resolving names via v3 definitions."""
        if self._subscription_ids is None:
            wanted = dict(self.settings.subscriptions)
            if any(not ref.isdigit() for ref in wanted.values()):
                definitions = self._call(
                    "subscription definitions",
                    lambda: self._client.communication_preferences.definition_api.get_page(),
                )
                by_name = {d.name: str(d.id) for d in definitions.subscription_definitions}
                for name, ref in wanted.items():
                    if not ref.isdigit():
                        if ref not in by_name:
                            raise PermanentError(
                                f"no subscription named {ref!r} in the portal",
                                system=self.name,
                                field_name=name,
                            )
                        wanted[name] = by_name[ref]
            self._subscription_ids = wanted
        return self._subscription_ids

    # -- the protocol ---------------------------------------------------------------------

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        """Changed contacts (search on lastmodifieddate) or, when since is None, all of them."""
        self._check_object(object_type)
        if since is None:
            yield from self._list_all()
        else:
            yield from self._search_since(since)

    def _search_since(self, since: datetime) -> Iterator[Page]:
        window_start = since
        while True:
            after: str | None = None
            fetched = 0
            last_stamp: datetime | None = None
            while True:
                request = PublicObjectSearchRequest(
                    filter_groups=[
                        {
                            "filters": [
                                {
                                    "propertyName": "lastmodifieddate",
                                    "operator": "GTE",
                                    "value": str(int(window_start.timestamp() * 1000)),
                                }
                            ]
                        }
                    ],
                    sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    properties=self._properties(),
                    limit=SEARCH_LIMIT,
                    after=after,
                )
                search = partial(
                    self._client.crm.contacts.search_api.do_search,
                    public_object_search_request=request,
                )
                result = self._call("search", search, search=True)
                page = self._page(result.results)
                fetched += len(result.results)
                if page.watermark is not None:
                    last_stamp = page.watermark
                yield page
                paging = result.paging
                after = paging.next.after if paging and paging.next else None
                if after is None:
                    return
                if fetched + SEARCH_LIMIT > SEARCH_CAP:
                    break  # the next page would cross the 10,000-result cap: re-window
            if last_stamp is None or last_stamp <= window_start:
                raise PermanentError(
                    f"more than {SEARCH_CAP} contacts share one lastmodifieddate; "
                    "run a full sync (--full) to read them by listing",
                    system=self.name,
                    object_type=OBJECT_TYPE,
                )
            window_start = last_stamp

    def _list_all(self) -> Iterator[Page]:
        started = datetime.now(UTC)
        after: str | None = None
        while True:
            listing = partial(
                self._client.crm.contacts.basic_api.get_page,
                limit=LIST_LIMIT,
                after=after,
                properties=self._properties(),
                archived=False,
            )
            result = self._call("list", listing)
            page = self._page(result.results)
            paging = result.paging
            after = paging.next.after if paging and paging.next else None
            # Listing goes by id, not by stamp: only the last page may advance the cursor,
            # and only to when the listing started (later changes are caught incrementally).
            yield Page(page.records, started if after is None else None)
            if after is None:
                return

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        """Current state of contacts by id (batch read, 100 a call); missing ones left out."""
        self._check_object(object_type)
        return list(self._page(self._batch_read(record_ids, self._properties())).records)

    def _batch_read(self, record_ids: Sequence[str], properties: list[str]) -> list[Any]:
        found: list[Any] = []
        for start in range(0, len(record_ids), BATCH_LIMIT):
            body = BatchReadInputSimplePublicObjectId(
                inputs=[
                    SimplePublicObjectId(id=i) for i in record_ids[start : start + BATCH_LIMIT]
                ],
                properties=properties,
                properties_with_history=[],
            )
            batch_read = partial(
                self._client.crm.contacts.batch_api.read,
                batch_read_input_simple_public_object_id=body,
                archived=False,
            )
            found.extend(self._call("batch read", batch_read).results)
        return found

    def _emails(self, record_ids: Sequence[str]) -> dict[str, str]:
        """Contact id -> email, for v4 calls that address subscribers by email."""
        return {
            str(r.id): str(r.properties["email"])
            for r in self._batch_read(record_ids, ["email"])
            if (r.properties or {}).get("email")
        }

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Properties via batch/update (207 handled per record); subscriptions via v4 write."""
        self._check_object(object_type)
        subs = self.subscription_ids()
        outcome: dict[str, WriteResult] = {}
        props = [
            (w, {k: v for k, v in w.values.items() if k not in subs})
            for w in writes
            if any(k not in subs for k in w.values)
        ]
        for start in range(0, len(props), BATCH_LIMIT):
            for result in self._update_properties(props[start : start + BATCH_LIMIT]):
                outcome[result.record_id] = result
        sub_writes = [w for w in writes if any(k in subs for k in w.values)]
        for start in range(0, len(sub_writes), BATCH_LIMIT):
            for result in self._write_subscriptions(sub_writes[start : start + BATCH_LIMIT], subs):
                previous = outcome.get(result.record_id)
                outcome[result.record_id] = result if previous is None or previous.ok else previous
        return [outcome.get(w.record_id, WriteResult(w.record_id, True)) for w in writes]

    def _update_properties(
        self, batch: Sequence[tuple[FieldWrite, dict[str, Any]]]
    ) -> list[WriteResult]:
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(
                    id=w.record_id, properties={k: _hs_value(v) for k, v in values.items()}
                )
                for w, values in batch
            ]
        )
        result = self._call(
            "batch update",
            lambda: self._client.crm.contacts.batch_api.update(
                batch_input_simple_public_object_batch_input=body
            ),
        )
        failed: dict[str, WriteResult] = {}
        for error in getattr(result, "errors", None) or []:
            ids = (error.context or {}).get("ids") or []
            category = str(error.category or "")
            for record_id in ids:
                failed[str(record_id)] = WriteResult(
                    str(record_id),
                    False,
                    f"{category}: {error.message}",
                    retryable=category in {"RATE_LIMITS", "INTERNAL_ERROR"},
                    gone=category == "OBJECT_NOT_FOUND",
                )
        return [failed.get(w.record_id, WriteResult(w.record_id, True)) for w, _ in batch]

    def _write_subscriptions(
        self, batch: Sequence[FieldWrite], subs: Mapping[str, str]
    ) -> list[WriteResult]:
        emails = {
            r.record_id: r.fields.get("email")
            for r in self.read(OBJECT_TYPE, [w.record_id for w in batch])
        }
        results: dict[str, WriteResult] = {}
        inputs: list[dict[str, Any]] = []
        by_email: dict[str, list[str]] = {}
        for w in batch:
            email = emails.get(w.record_id)
            if not email:
                results[w.record_id] = WriteResult(
                    w.record_id, False, "contact not found or has no email", gone=True
                )
                continue
            by_email.setdefault(str(email).lower(), []).append(w.record_id)
            for name, state in w.values.items():
                if name not in subs:
                    continue
                item: dict[str, Any] = {
                    "subscriberIdString": email,
                    "channel": "EMAIL",
                    "statusState": state,
                    "subscriptionId": int(subs[name]),
                }
                if w.legal_basis:
                    item["legalBasis"] = _LEGAL_BASIS.get(w.legal_basis, w.legal_basis)
                if w.explanation:
                    item["legalBasisExplanation"] = w.explanation
                inputs.append(item)
        if inputs:
            answer = self._v4(
                "/communication-preferences/v4/statuses/batch/write", {"inputs": inputs}
            )
            for error in answer.get("errors") or []:
                context = error.get("context") or {}
                for subscriber in context.get("subscriberIdString") or context.get("ids") or []:
                    for record_id in by_email.get(str(subscriber).lower(), []):
                        results[record_id] = WriteResult(
                            record_id, False, f"{error.get('category')}: {error.get('message')}"
                        )
        return [results.get(w.record_id, WriteResult(w.record_id, True)) for w in batch]

    def describe(self, object_type: str) -> list[FieldInfo]:
        """Contact properties with type, writability and enumeration options."""
        self._check_object(object_type)
        result = self._call(
            "properties", lambda: self._client.crm.properties.core_api.get_all(OBJECT_TYPE)
        )
        fields = []
        for prop in result.results:
            meta = prop.modification_metadata
            read_only = bool(meta and meta.read_only_value)
            options = tuple(str(o.value) for o in prop.options or ())
            fields.append(FieldInfo(prop.name, prop.type, not read_only, options))
        return fields

    def quota(self) -> Quota:
        return self._quota

    def close(self) -> None:
        self._http.close()

    # -- helpers --------------------------------------------------------------------------

    def _check_object(self, object_type: str) -> None:
        if object_type != OBJECT_TYPE:
            raise PermanentError(f"unsupported object {object_type!r}", system=self.name)

    def _properties(self) -> list[str]:
        names = ["email", "lastmodifieddate", *self.settings.properties]
        names += [f"hs_email_optout_{sid}" for sid in self.subscription_ids().values()]
        return list(dict.fromkeys(names))

    def _page(self, results: Sequence[Any]) -> Page:
        subs = self.subscription_ids()
        statuses = self._statuses([r.properties.get("email") for r in results]) if subs else {}
        records = []
        for r in results:
            props: dict[str, Any] = dict(r.properties or {})
            stamp = props.get("lastmodifieddate") or r.updated_at
            email = str(props.get("email") or "").lower()
            field_times: dict[str, datetime] = {}
            evidence: dict[str, dict[str, str]] = {}
            for name, sid in subs.items():
                status = statuses.get((email, sid))
                if status is None:
                    props[name] = "NOT_SPECIFIED"
                    continue
                props[name] = status["status"]
                if status.get("timestamp"):
                    field_times[name] = parse_hs_datetime(status["timestamp"])
                evidence[name] = {
                    k: str(status[src])
                    for k, src in (
                        ("legal_basis", "legalBasis"),
                        ("note", "legalBasisExplanation"),
                        ("hubspot_source", "source"),
                    )
                    if status.get(src)
                }
            records.append(
                Record(
                    OBJECT_TYPE,
                    str(r.id),
                    props,
                    parse_hs_datetime(stamp),
                    deleted=bool(getattr(r, "archived", False)),
                    field_times=field_times,
                    field_evidence=evidence,
                )
            )
        watermark = max((rec.modified_at for rec in records), default=None)
        return Page(records, watermark)

    def _statuses(self, emails: Sequence[Any]) -> dict[tuple[str, str], dict[str, Any]]:
        """(lower-cased email, subscription id) -> v4 status entry, 100 subscribers a call."""
        wanted = [str(e) for e in emails if e]
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_LIMIT):
            answer = self._v4(
                "/communication-preferences/v4/statuses/batch/read",
                {"inputs": wanted[start : start + BATCH_LIMIT]},
            )
            for result in answer.get("results") or []:
                subscriber = str(result.get("subscriberIdString", "")).lower()
                for status in result.get("statuses") or []:
                    out[(subscriber, str(status.get("subscriptionId")))] = status
        return out


def _hs_value(value: Any) -> str:
    """HubSpot property values are strings; booleans are `true`/`false`, null is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
