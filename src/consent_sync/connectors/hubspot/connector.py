"""HubSpot connector: hubspot-api-client for CRM contacts, httpx for Communication Preferences v4.

How a contact and its subscription statuses become one record (typed properties, subscriptions as
fields, an opt-out of all email, values that will not parse) is `contacts.py`. A SUBSCRIBED write is
sent only with the legal basis its decision recorded (and only its recorded explanation): without
a basis HubSpot knows, that status is not sent, the rest of the record's write is, and the record
is reported `unrepresentable`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)

from consent_sync.connectors.hubspot.contacts import (
    OBJECT_TYPE,
    Listed,
    contact_email,
    contact_properties,
    contact_record,
    contact_stamp,
    next_after,
)
from consent_sync.connectors.hubspot.preferences import (
    SUBSCRIPTION_STATES,
    StatusWrite,
    SubscriptionPreferences,
    hubspot_basis,
    parse_hs_datetime,
    withheld_reason,
)
from consent_sync.connectors.hubspot.transport import Endpoint, HubSpotTransport
from consent_sync.connectors.protocol import PermanentError
from consent_sync.connectors.retry import RetryPolicy
from consent_sync.connectors.window import SeenWindow
from consent_sync.domain.records import (
    FieldInfo,
    FieldWrite,
    Page,
    Quota,
    Record,
    WriteResult,
)

SEARCH_LIMIT = 200  # results per search page
SEARCH_CAP = 10_000  # the search API never pages past this many results of one query
LIST_LIMIT = 100  # results per list page
BATCH_LIMIT = 100  # inputs per batch read and update
OPT_OUT_ALL = "hs_email_optout"  # read-only: the contact opted out of all email
_RETRYABLE_CATEGORIES = frozenset({"RATE_LIMITS", "INTERNAL_ERROR"})

__all__ = [
    "OBJECT_TYPE",
    "SUBSCRIPTION_STATES",
    "HubSpotConnector",
    "HubSpotSettings",
    "parse_hs_datetime",
]


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
    searches_per_second: float = 4.0  # HubSpot allows 5 searches a second per token
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # The mapping's `unsubscribe_all: {push: true}`: a write that unsubscribes a contact from every
    # mapped subscription goes out as one v4 unsubscribe-all (which covers every type in the
    # portal, mapped or not) instead of one status per type.
    unsubscribe_all_push: bool = False
    #: The engine's lookback: how far behind the cursor pulls read (what is remembered).
    lookback_seconds: float = 300.0

    def __repr__(self) -> str:
        return f"HubSpotSettings(name={self.name!r}, base_url={self.base_url!r})"


class HubSpotConnector:
    """Pulls, reads and writes contact consent through the official client and v4 over httpx."""

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self._transport = HubSpotTransport(
            Endpoint(
                settings.name,
                settings.base_url,
                settings.access_token,
                settings.ca_file,
                settings.timeout,
            ),
            retry=settings.retry,
            requests_per_second=settings.requests_per_second,
            searches_per_second=settings.searches_per_second,
        )
        self._prefs = SubscriptionPreferences(self._transport, settings.subscriptions)
        self._definitions: list[Any] | None = None
        self._window = SeenWindow(timedelta(seconds=settings.lookback_seconds))

    @property
    def api_calls(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._transport.api_calls

    # -- pull -----------------------------------------------------------------------------

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        """Changed contacts (search on lastmodifieddate) or, when since is None, all of them.

        Contacts a completed pull already delivered with the same stamp are not delivered
        again, nor are their statuses read; when the window's newest page and its total show
        nothing else is new, that one search is the whole pull (`connectors/window.py`).
        """
        self._check_object(object_type)
        window = self._window
        if since is None:
            yield from self._list_all()
            return
        known = window.covers(since)
        if known:
            result = self._search(since, 0, newest_first=True)
            rows = list(result.results)
            total = getattr(result, "total", None)
            if isinstance(total, int) and window.accounts_for(
                since, {str(r.id) for r in rows}, total
            ):
                fresh = sorted(
                    (r for r in rows if not window.seen(str(r.id), contact_stamp(r))),
                    key=_stamp_order,
                )
                yield from window.track([self._page(fresh) if fresh else Page([], None)], since)
                return
        window.begin()
        yield from window.track(self._search_since(since, window if known else None), since)

    def _search_since(self, since: datetime, known: SeenWindow | None) -> Iterator[Page]:
        # Every page is its own query from the last stamp seen (keyset paging on the stamp), so
        # no query nears the 10,000-result cap and a contact modified mid-pull, which moves to the
        # end of the order, cannot shift an unread one past an offset. Contacts already yielded
        # at the boundary stamp are skipped; only a run of one stamp longer than a page needs
        # offsets, and one longer than the cap cannot be searched at all.
        window = since
        offset = 0
        seen_at_window: set[str] = set()
        while True:
            result = self._search(window, offset)
            rows = list(result.results)
            fresh = [
                r
                for r in rows
                if not (str(r.id) in seen_at_window and contact_stamp(r) == window)
                and not (known is not None and known.seen(str(r.id), contact_stamp(r)))
            ]
            if fresh:
                yield self._page(fresh)
            if not (result.paging and result.paging.next) or not rows:
                return
            # A stamp that would not parse is its record's conflict, not the window's end.
            last = max(
                (s for s in map(contact_stamp, rows) if isinstance(s, datetime)), default=window
            )
            if last > window:
                window, offset = last, 0
                seen_at_window = {str(r.id) for r in rows if contact_stamp(r) == last}
            else:
                seen_at_window |= {str(r.id) for r in rows}
                offset += len(rows)
                if offset + SEARCH_LIMIT > SEARCH_CAP:
                    raise PermanentError(
                        f"more than {SEARCH_CAP} contacts share lastmodifieddate {window}; "
                        "run a full sync (--full) to read them by listing",
                        system=self.name,
                        object_type=OBJECT_TYPE,
                    )

    def _search(self, window: datetime, offset: int, *, newest_first: bool = False) -> Any:
        return self._transport.sdk(
            "search",
            self._transport.contacts_search.do_search_with_http_info,
            search=True,
            object_name=OBJECT_TYPE,
            public_object_search_request=self._search_request(window, offset, newest_first),
        )

    def _search_request(
        self, window: datetime, offset: int, newest_first: bool = False
    ) -> PublicObjectSearchRequest:
        stamp_filter = {
            "propertyName": "lastmodifieddate",
            "operator": "GTE",
            "value": str(int(window.timestamp() * 1000)),
        }
        return PublicObjectSearchRequest(
            filter_groups=[{"filters": [stamp_filter]}],
            sorts=[
                {
                    "propertyName": "lastmodifieddate",
                    "direction": "DESCENDING" if newest_first else "ASCENDING",
                }
            ],
            properties=self._properties(),
            limit=SEARCH_LIMIT,
            after=str(offset) if offset else None,
        )

    def _list_all(self) -> Iterator[Page]:
        started = datetime.now(UTC)
        self._window.begin(started)
        yield from self._window.track(self._list_pages(started), None)

    def _list_pages(self, started: datetime) -> Iterator[Page]:
        after: str | None = None
        while True:
            answer = self._transport.sdk_json(
                "list",
                self._transport.contacts.get_page_with_http_info,
                listing="results",
                object_name=OBJECT_TYPE,
                limit=LIST_LIMIT,
                after=after,
                properties=self._properties(),
                archived=False,
            )
            page = self._page([Listed.of(raw) for raw in answer["results"]])
            after = next_after(answer)
            # Listing goes by id, not by stamp: only the last page may advance the cursor,
            # and only to when the listing started (later changes are caught incrementally).
            yield Page(page.records, started if after is None else None)
            if after is None:
                return

    # -- read and write -------------------------------------------------------------------

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        """Current state of contacts by id (batch read, 100 a call); missing ones left out."""
        self._check_object(object_type)
        return list(self._page(self._batch_read(record_ids, self._properties())).records)

    def _batch_read(self, record_ids: Sequence[str], properties: list[str]) -> list[Any]:
        unique = list(dict.fromkeys(record_ids))
        found: list[Any] = []
        for start in range(0, len(unique), BATCH_LIMIT):
            body = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in unique[start : start + BATCH_LIMIT]],
                properties=properties,
                properties_with_history=[],
            )
            result = self._transport.sdk(
                "batch read",
                self._transport.contacts_batch.read_with_http_info,
                object_name=OBJECT_TYPE,
                batch_read_input_simple_public_object_id=body,
                archived=False,
            )
            found.extend(result.results)
        return found

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Properties via batch/update (207 handled per record); subscriptions via v4.

        A SUBSCRIBED without a legal basis HubSpot knows is not sent; the rest of its record's
        write still is, and the record is reported `unrepresentable` (unless another part failed).
        """
        self._check_object(object_type)
        subs = self._prefs.ids()
        properties: dict[str, dict[str, Any]] = {}
        wanted: dict[str, dict[str, _Wanted]] = {}
        for w in writes:
            for name, value in w.values.items():
                if name in subs:
                    wanted.setdefault(w.record_id, {})[name] = _Wanted(
                        str(value), w.legal_basis, w.explanation
                    )
                else:
                    properties.setdefault(w.record_id, {})[name] = value
        outcome = self._update_properties(properties)
        withheld: dict[str, list[str]] = {}
        sendable: dict[str, dict[str, _Wanted]] = {}
        for record_id, fields in wanted.items():
            for name, want in fields.items():
                # GDPR-enabled portals require an explanation with the basis: without the
                # decision's own, nothing is sent (none is made up).
                unexplained = not (want.explanation or "").strip()
                if want.state == "SUBSCRIBED" and (
                    hubspot_basis(want.legal_basis) is None or unexplained
                ):
                    reason = withheld_reason(name, subs[name], want.legal_basis, want.explanation)
                    withheld.setdefault(record_id, []).append(reason)
                else:
                    sendable.setdefault(record_id, {})[name] = want
        for record_id, result in self._write_subscriptions(sendable, subs).items():
            previous = outcome.get(record_id)
            if previous is None or previous.ok:
                outcome[record_id] = result
        for record_id, reasons in withheld.items():
            outcome[record_id] = _withhold(record_id, outcome.get(record_id), "; ".join(reasons))
        return [outcome.get(w.record_id, WriteResult(w.record_id, True)) for w in writes]

    def _update_properties(
        self, properties: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, WriteResult]:
        outcome: dict[str, WriteResult] = {}
        ids = list(properties)
        for start in range(0, len(ids), BATCH_LIMIT):
            batch = ids[start : start + BATCH_LIMIT]
            body = BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(
                        id=i, properties={k: _hs_value(v) for k, v in properties[i].items()}
                    )
                    for i in batch
                ]
            )
            result = self._transport.sdk(
                "batch update",
                self._transport.contacts_batch.update_with_http_info,
                object_name=OBJECT_TYPE,
                batch_input_simple_public_object_batch_input=body,
            )
            for error in getattr(result, "errors", None) or []:
                category = str(error.category or "")
                for record_id in (error.context or {}).get("ids") or []:
                    outcome[str(record_id)] = WriteResult(
                        str(record_id),
                        False,
                        f"{category}: {error.message}",
                        retryable=category in _RETRYABLE_CATEGORIES,
                        gone=category == "OBJECT_NOT_FOUND",
                    )
            for record_id in batch:
                outcome.setdefault(record_id, WriteResult(record_id, True))
        return outcome

    def _write_subscriptions(
        self, wanted: Mapping[str, Mapping[str, _Wanted]], subs: Mapping[str, str]
    ) -> dict[str, WriteResult]:
        if not wanted:
            return {}
        emails = {str(r.id): contact_email(r) for r in self._batch_read(list(wanted), ["email"])}
        outcome: dict[str, WriteResult] = {}
        planned: list[StatusWrite] = []
        everything: list[str] = []  # subscribers to opt out of all email at once
        by_email: dict[str, list[str]] = {}
        for record_id, fields in wanted.items():
            email = emails.get(record_id)
            if not email:
                # v4 would create a contact for an unknown address: never write blind.
                outcome[record_id] = WriteResult(
                    record_id, False, "contact not found or has no email", gone=True
                )
                continue
            by_email.setdefault(email.lower(), []).append(record_id)
            if self.settings.unsubscribe_all_push and _unsubscribes_all(fields, subs):
                everything.append(email)
                continue
            planned += [_status_write(email, subs[name], want) for name, want in fields.items()]
        refused = self._prefs.write(planned) if planned else {}
        if everything:
            refused.update(self._prefs.unsubscribe_all(everything))
        for subscriber, (category, message) in refused.items():
            for record_id in by_email.get(subscriber, []):
                outcome[record_id] = WriteResult(
                    record_id,
                    False,
                    f"{category}: {message}",
                    retryable=category in _RETRYABLE_CATEGORIES,
                )
        for record_ids in by_email.values():
            for record_id in record_ids:
                outcome.setdefault(record_id, WriteResult(record_id, True))
        return outcome

    # -- describe -------------------------------------------------------------------------

    def describe(self, object_type: str) -> list[FieldInfo]:
        """Contact properties with type, writability and options; then each mapped subscription."""
        self._check_object(object_type)
        fields = []
        for prop in self._property_definitions():
            meta = prop.modification_metadata
            read_only = bool(meta and meta.read_only_value)
            options = tuple(str(o.value) for o in prop.options or ())
            fields.append(FieldInfo(prop.name, prop.type, not read_only, options))
        fields += [
            FieldInfo(name, "subscription", True, SUBSCRIPTION_STATES) for name in self._prefs.ids()
        ]
        return fields

    def _property_definitions(self) -> list[Any]:
        if self._definitions is None:
            result = self._transport.sdk(
                "properties",
                self._transport.properties.get_all_with_http_info,
                OBJECT_TYPE,
                object_name=OBJECT_TYPE,
            )
            self._definitions = list(result.results)
        return self._definitions

    def quota(self) -> Quota:
        return self._transport.quota

    def close(self) -> None:
        self._transport.close()

    # -- helpers --------------------------------------------------------------------------

    def _check_object(self, object_type: str) -> None:
        if object_type != OBJECT_TYPE:
            raise PermanentError(f"unsupported object {object_type!r}", system=self.name)

    def _properties(self) -> list[str]:
        names = ["email", "lastmodifieddate", *self.settings.properties]
        subs = self._prefs.ids()
        if subs:
            names += [OPT_OUT_ALL, *(f"{OPT_OUT_ALL}_{sid}" for sid in subs.values())]
        return list(dict.fromkeys(names))

    def _page(self, results: Sequence[Any]) -> Page:
        subs = self._prefs.ids()
        types = {p.name: str(p.type) for p in self._property_definitions()}
        emails = [contact_email(r) for r in results]
        statuses = self._prefs.read([e for e in emails if e]) if subs else {}
        # Only contacts HubSpot flags as opted out of all email cost a wide-status read (for its
        # timestamp); everyone else's subscriptions are what their own statuses say. A flagged
        # contact v4 reports no wide opt-out for (the flag lags a resubscribe) reads its own.
        flagged = [
            email
            for r, email in zip(results, emails, strict=True)
            if email and str(contact_properties(r).get(OPT_OUT_ALL) or "").lower() == "true"
        ]
        wide = self._prefs.read_wide(flagged) if subs and flagged else {}
        records = [
            contact_record(r, email, types, subs, statuses, wide)
            for r, email in zip(results, emails, strict=True)
        ]
        watermark = max((rec.modified_at for rec in records if rec.readable), default=None)
        return Page(records, watermark)


@dataclass(frozen=True, slots=True)
class _Wanted:
    """One subscription status a write asks for, with the decision's recorded evidence."""

    state: str
    legal_basis: str | None
    explanation: str | None


def _stamp_order(result: Any) -> datetime:
    """Oldest first; a contact whose stamp will not parse goes first (it is its own conflict)."""
    stamp = contact_stamp(result)
    return stamp if isinstance(stamp, datetime) else datetime.min.replace(tzinfo=UTC)


def _status_write(email: str, subscription_id: str, want: _Wanted) -> StatusWrite:
    """The v4 status to set; a grant carries its own basis (HubSpot's name) and explanation only."""
    if want.state != "SUBSCRIBED":
        return StatusWrite(email, subscription_id, want.state)
    basis = hubspot_basis(want.legal_basis)
    return StatusWrite(email, subscription_id, want.state, basis, want.explanation or None)


def _unsubscribes_all(fields: Mapping[str, _Wanted], subs: Mapping[str, str]) -> bool:
    """Whether a record's write sets every mapped subscription to UNSUBSCRIBED."""
    return set(fields) == set(subs) and all(w.state == "UNSUBSCRIBED" for w in fields.values())


def _withhold(record_id: str, previous: WriteResult | None, reason: str) -> WriteResult:
    """A record with a grant withheld: unrepresentable if the rest landed, else that failure."""
    if previous is None or previous.ok:
        return WriteResult(record_id, False, reason, unrepresentable=True)
    return replace(previous, error=f"{previous.error}; {reason}")


def _hs_value(value: Any) -> str:
    """HubSpot property values are strings; booleans are `true`/`false`, null is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
