"""CRM contacts v3 and contact properties: the endpoints hubspot-api-client's crm.contacts calls."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from consent_sync_sandbox.common import Faults
from consent_sync_sandbox.hubspot.errors import HubSpotError
from consent_sync_sandbox.hubspot.garble import Garbles
from consent_sync_sandbox.hubspot.history import BASELINE_SOURCE, HistoryEntry
from consent_sync_sandbox.hubspot.props import (
    ALWAYS_RETURNED,
    DEFAULT_PROPERTIES,
    PROPERTIES,
    PROPERTY_BY_NAME,
    PropertyIssue,
    iso_ms,
    normalize_value,
    now_iso,
)
from consent_sync_sandbox.hubspot.records import Contact, SubscriptionState
from consent_sync_sandbox.hubspot.search import SearchRequest, page_json, plan_search
from consent_sync_sandbox.hubspot.store import ContactStore, DuplicateEmailError

BATCH_LIMIT = 100
HISTORY_BATCH_LIMIT = 50
LIST_LIMIT = 100
API_SOURCE = "API"
_NOT_FOUND = "Could not get some CONTACT objects, they may be deleted or not exist."
_PROPERTIES_STAMP = "2020-01-01T00:00:00.000Z"

PropertyNames = Annotated[list[str] | None, Query()]


class ObjectId(BaseModel):
    id: str


class BatchReadRequest(BaseModel):
    inputs: list[ObjectId]
    properties: list[str] = Field(default_factory=list)
    propertiesWithHistory: list[str] = Field(default_factory=list)
    idProperty: str | None = None


class UpdateInput(BaseModel):
    id: str
    properties: dict[str, Any]
    idProperty: str | None = None


class BatchUpdateRequest(BaseModel):
    inputs: list[UpdateInput]


class CreateRequest(BaseModel):
    properties: dict[str, Any]
    associations: list[Any] = Field(default_factory=list)


class UpdateRequest(BaseModel):
    properties: dict[str, Any]


def wanted_properties(requested: Iterable[str] | None) -> tuple[str, ...]:
    """Which properties a response shows: the defaults, or the requested ones plus the stamps."""
    names = [n for item in requested or () for n in item.split(",") if n.strip()]
    if not names:
        return DEFAULT_PROPERTIES
    chosen = dict.fromkeys([*(n.strip() for n in names), *ALWAYS_RETURNED])
    return tuple(n for n in chosen if n in PROPERTY_BY_NAME)


def history_properties(requested: Iterable[str] | None) -> tuple[str, ...]:
    """Known properties named in `propertiesWithHistory` (comma-separated or repeated)."""
    names = (n.strip() for item in requested or () for n in item.split(","))
    return tuple(dict.fromkeys(n for n in names if n in PROPERTY_BY_NAME))


def _contact_json(
    store: ContactStore,
    contacts: Sequence[Contact],
    wanted: tuple[str, ...],
    with_history: tuple[str, ...] = (),
    garbles: Garbles | None = None,
) -> list[dict[str, Any]]:
    """HubSpot's SimplePublicObject JSON for each contact, with only the wanted properties
    (served garbled where `garbles` says so)."""
    needs_subs = any(name.startswith("hs_email_optout_") for name in (*wanted, *with_history))
    ids = [c.id for c in contacts]
    subs = store.subscriptions(ids) if needs_subs else {}
    recorded = store.recorded_history(ids, with_history)
    result = []
    for contact in contacts:
        states = subs.get(contact.id) if needs_subs else None
        every = contact.properties(states)
        body: dict[str, Any] = {
            "id": str(contact.id),
            "properties": {name: every.get(name) for name in wanted},
            "createdAt": iso_ms(contact.created_ms),
            "updatedAt": iso_ms(contact.modified_ms),
            "archived": contact.archived,
        }
        if with_history:
            body["propertiesWithHistory"] = {
                name: [
                    entry.to_json()
                    for entry in recorded.get((contact.id, name))
                    or _baseline(contact, states or {}, name, every.get(name))
                ]
                for name in with_history
            }
        if contact.archived:
            body["archivedAt"] = iso_ms(contact.modified_ms)
        result.append(garbles.crm_object(contact.email, body) if garbles else body)
    return result


def _baseline(
    contact: Contact, states: dict[int, SubscriptionState], name: str, value: str | None
) -> list[HistoryEntry]:
    """The one entry of a property that never changed since seeding: its value, when it began."""
    if value is None:
        return []
    since = contact.created_ms
    if name.startswith("hs_email_optout_"):
        state = states.get(int(name.rsplit("_", 1)[1]))
        since = state.timestamp_ms if state and state.timestamp_ms else since
    return [HistoryEntry(value, since, BASELINE_SOURCE)]


def validate_properties(properties: dict[str, Any]) -> dict[str, str | None]:
    """Writable values as stored; raises HubSpot's VALIDATION_ERROR listing every bad one."""
    values: dict[str, str | None] = {}
    issues: list[PropertyIssue] = []
    for name, raw in properties.items():
        value, issue = normalize_value(name, raw)
        if issue is not None:
            issues.append(issue)
        else:
            values[name] = value
    if issues:
        listed = json.dumps([i.to_json() for i in issues])
        raise HubSpotError(
            400,
            f"Property values were not valid: {listed}",
            "VALIDATION_ERROR",
            errors=[
                {
                    "message": i.message,
                    "code": i.error,
                    "context": {"propertyName": [i.name]},
                }
                for i in issues
            ],
        )
    return values


def batch_error(category: str, message: str, ids: list[str], **extra: Any) -> dict[str, Any]:
    """One entry of a 207 response's `errors` (HubSpot's StandardError)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"ids": ids},
        "links": {},
        "errors": [],
        **extra,
    }


def batch_response(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str
) -> JSONResponse:
    """200 with the results, or 207 multi-status when some inputs failed."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": now_iso(),
    }
    if errors:
        body["numErrors"] = sum(len(e["context"]["ids"]) for e in errors)
        body["errors"] = errors
    return JSONResponse(body, status_code=207 if errors else 200)


def record_id(text: str) -> int | None:
    """A record id from the URL or body, or None if it cannot name a record (never a 500)."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def crm_router(store: ContactStore, faults: Faults, garbles: Garbles | None = None) -> APIRouter:
    """Routes under /crm/v3 for contacts and contact properties."""
    router = APIRouter()
    contact_json = partial(_contact_json, garbles=garbles)

    def lookup(key: str, id_property: str | None, *, archived: bool = False) -> Contact | None:
        if id_property == "email":
            return None if archived else store.by_email(key)
        if id_property not in (None, "hs_object_id"):
            raise HubSpotError(400, f"Unsupported idProperty {id_property!r}", "VALIDATION_ERROR")
        contact_id = record_id(key)
        return store.get(contact_id, archived=archived) if contact_id is not None else None

    @router.get("/crm/v3/objects/contacts")
    def list_contacts(
        limit: int = 10,
        after: str | None = None,
        properties: PropertyNames = None,
        propertiesWithHistory: PropertyNames = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        if not 0 < limit <= LIST_LIMIT:
            raise HubSpotError(400, f"limit must be between 1 and {LIST_LIMIT}")
        start = record_id(after) if after else 0
        if start is None:
            raise HubSpotError(400, f"Invalid 'after' value {after!r}")
        page = store.page(start, limit + 1, archived=archived)
        body: dict[str, Any] = {
            "results": contact_json(
                store,
                page[:limit],
                wanted_properties(properties),
                history_properties(propertiesWithHistory),
            )
        }
        if len(page) > limit:
            following = str(page[limit].id)
            link = f"/crm/v3/objects/contacts?after={following}&limit={limit}"
            body["paging"] = {"next": {"after": following, "link": link}}
        return body

    @router.get("/crm/v3/objects/contacts/{contact_id}")
    def get_contact(
        contact_id: str,
        properties: PropertyNames = None,
        propertiesWithHistory: PropertyNames = None,
        idProperty: str | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        contact = lookup(contact_id, idProperty, archived=archived)
        if contact is None:
            raise HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
        history = history_properties(propertiesWithHistory)
        return contact_json(store, [contact], wanted_properties(properties), history)[0]

    @router.post("/crm/v3/objects/contacts", status_code=201)
    def create_contact(request: CreateRequest) -> dict[str, Any]:
        values = validate_properties(request.properties)
        try:
            contact = store.create(values, API_SOURCE)
        except DuplicateEmailError as exc:
            raise HubSpotError(409, str(exc), "CONFLICT") from None
        return contact_json(store, [contact], wanted_properties(list(values)))[0]

    @router.patch("/crm/v3/objects/contacts/{contact_id}")
    def update_contact(
        contact_id: str,
        request: UpdateRequest,
        idProperty: str | None = None,
    ) -> dict[str, Any]:
        values = validate_properties(request.properties)
        contact = lookup(contact_id, idProperty)
        if contact is None:
            raise HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
        try:
            updated = store.update(contact.id, values, API_SOURCE)
        except DuplicateEmailError as exc:
            raise HubSpotError(409, str(exc), "CONFLICT") from None
        if updated is None:
            raise HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
        return contact_json(store, [updated], wanted_properties(list(values)))[0]

    @router.delete("/crm/v3/objects/contacts/{contact_id}", status_code=204)
    def archive_contact(contact_id: str) -> Response:
        parsed = record_id(contact_id)
        if parsed is not None:
            store.archive(parsed, API_SOURCE)  # deleting twice is not an error, as in HubSpot
        return Response(status_code=204)

    @router.post("/crm/v3/objects/contacts/batch/read")
    def batch_read(request: BatchReadRequest, archived: bool = False) -> JSONResponse:
        started = now_iso()
        if len(request.inputs) > BATCH_LIMIT:
            raise HubSpotError(400, f"Batch input limit exceeded: at most {BATCH_LIMIT} inputs")
        history = history_properties(request.propertiesWithHistory)
        if history and len(request.inputs) > HISTORY_BATCH_LIMIT:
            raise HubSpotError(
                400,
                "The maximum number of inputs supported in a batch request for property "
                f"histories is {HISTORY_BATCH_LIMIT}. Please reduce the number of items and "
                "try again",
            )
        found: list[Contact] = []
        missing: list[str] = []
        for item in request.inputs:
            contact = lookup(item.id, request.idProperty, archived=archived)
            if contact is None:
                missing.append(item.id)
            else:
                found.append(contact)
        results = contact_json(store, found, wanted_properties(request.properties), history)
        errors = [batch_error("OBJECT_NOT_FOUND", _NOT_FOUND, missing)] if missing else []
        return batch_response(results, errors, started)

    @router.post("/crm/v3/objects/contacts/batch/update")
    def batch_update(request: BatchUpdateRequest) -> JSONResponse:
        started = now_iso()
        if len(request.inputs) > BATCH_LIMIT:
            raise HubSpotError(400, f"Batch input limit exceeded: at most {BATCH_LIMIT} inputs")
        ids = [item.id for item in request.inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise HubSpotError(
                400, f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )
        # A single invalid value fails the whole batch, as HubSpot validates before writing.
        planned = [(item, validate_properties(item.properties)) for item in request.inputs]
        updated: list[Contact] = []
        missing: list[str] = []
        failed: list[str] = []
        conflicts: list[dict[str, Any]] = []
        for item, values in planned:
            contact = lookup(item.id, item.idProperty)
            if contact is None:
                missing.append(item.id)
                continue
            if faults.record_fails(str(contact.id)):
                failed.append(item.id)
                continue
            try:
                after = store.update(contact.id, values, API_SOURCE)
            except DuplicateEmailError as exc:
                conflicts.append(batch_error("CONFLICT", str(exc), [item.id]))
                continue
            if after is None:
                missing.append(item.id)
            else:
                updated.append(after)
        errors = list(conflicts)
        if missing:
            errors.append(batch_error("OBJECT_NOT_FOUND", _NOT_FOUND, missing))
        if failed:
            errors.append(
                batch_error(
                    "INTERNAL_ERROR",
                    "The record could not be updated right now; try again.",
                    failed,
                    subCategory="sandbox.injected_record_failure",
                )
            )
        wanted = wanted_properties([n for item in request.inputs for n in item.properties])
        return batch_response(contact_json(store, updated, wanted), errors, started)

    @router.post("/crm/v3/objects/contacts/search")
    def search(request: SearchRequest) -> dict[str, Any]:
        plan = plan_search(request)
        total, page = store.search(plan.where, plan.params, plan.order, plan.limit, plan.offset)
        body: dict[str, Any] = {
            "total": total,
            "results": contact_json(store, page, wanted_properties(request.properties)),
        }
        paging = page_json(total, plan.offset, len(page))
        if paging is not None:
            body["paging"] = paging
        return body

    @router.get("/crm/v3/properties/contacts")
    def list_properties(archived: bool = False) -> dict[str, Any]:
        shown = [] if archived else PROPERTIES
        return {"results": [p.describe(_PROPERTIES_STAMP) for p in shown]}

    @router.get("/crm/v3/properties/contacts/{property_name}")
    def get_property(property_name: str) -> dict[str, Any]:
        prop = PROPERTY_BY_NAME.get(property_name)
        if prop is None:
            raise HubSpotError(
                404, f"Unable to find property {property_name!r}", "OBJECT_NOT_FOUND"
            )
        return prop.describe(_PROPERTIES_STAMP)

    return router
