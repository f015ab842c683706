"""sObject Collections (`/composite/sobjects`): up to 200 creates, updates or deletes a call.

Each record gets a SaveResult in request order. With `allOrNone` false the valid records are
saved and the others report their errors; with `allOrNone` true one failure saves nothing and
the valid records report ALL_OR_NONE_OPERATION_ROLLED_BACK. The records may mix sObject types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from consent_sync_sandbox.salesforce.errors import RecordError, SalesforceError
from consent_sync_sandbox.salesforce.objects import SOBJECTS, sobject
from consent_sync_sandbox.salesforce.org import Org, Planned, json_error
from consent_sync_sandbox.salesforce.schema import SObjectSpec, id_sequence, make_id, normalize_id

MAX_COLLECTION = 200
_ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
SaveResult = dict[str, Any]


def _records(body: Any) -> tuple[list[Any], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise json_error()
    records: list[Any] = body["records"]
    _check_size(len(records))
    return records, body.get("allOrNone", False) is True


def _check_size(count: int) -> None:
    if count > MAX_COLLECTION:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
            [],
        )


def _typed(item: Any) -> tuple[SObjectSpec, dict[str, Any]]:
    if not isinstance(item, dict):
        raise json_error()
    attributes = item.get("attributes")
    type_name = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(type_name, str):
        raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
    spec = sobject(type_name)
    if spec is None:
        raise SalesforceError(
            400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.", []
        )
    return spec, item


def _failure(record_id: str | None, errors: Sequence[RecordError]) -> SaveResult:
    result: SaveResult = {} if record_id is None else {"id": record_id}
    result.update(success=False, errors=[e.as_json() for e in errors])
    return result


def _settle(
    plans: Sequence[Planned], all_or_none: bool, save: Callable[[Planned], str]
) -> list[SaveResult]:
    """Save the valid plans (none if allOrNone and any failed); SaveResults in order."""
    failed = any(p.errors for p in plans)
    results: list[SaveResult] = []
    for plan in plans:
        if plan.errors or (all_or_none and failed):
            results.append(_failure(plan.record_id, plan.errors or [_ROLLED_BACK]))
        else:
            results.append({"id": save(plan), "success": True, "errors": []})
    return results


def create_collection(org: Org, body: Any) -> list[SaveResult]:
    """POST /composite/sobjects: create each record; failed creates carry no id."""
    records, all_or_none = _records(body)
    store = org.store
    with store.transaction():
        plans = []
        for item in records:
            spec, fields = _typed(item)
            if any(k.lower() == "id" for k in fields):
                error = RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                plans.append(Planned(spec, None, errors=[error]))
                continue
            values, errors = org.plan_create(spec, fields)
            plans.append(Planned(spec, None, 0, values, errors))

        def insert(plan: Planned) -> str:
            seq = store.insert(plan.spec, plan.values, store.clock.next())
            return make_id(plan.spec.key_prefix, seq)

        return _settle(plans, all_or_none, insert)


def update_collection(org: Org, body: Any) -> list[SaveResult]:
    """PATCH /composite/sobjects: update each record by its `id`."""
    records, all_or_none = _records(body)
    store = org.store
    with store.transaction():
        plans = []
        for item in records:
            spec, fields = _typed(item)
            record_id = next((v for k, v in fields.items() if k.lower() == "id"), None)
            if not isinstance(record_id, str) or not record_id:
                missing = RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
                plans.append(Planned(spec, None, errors=[missing]))
                continue
            changes = {k: v for k, v in fields.items() if k.lower() != "id"}
            plans.append(org.plan_update(spec, record_id, changes))

        def update(plan: Planned) -> str:
            store.update(plan.spec, plan.seq, plan.values, store.clock.next())
            return str(plan.record_id)

        return _settle(plans, all_or_none, update)


def _plan_delete(org: Org, record_id: str) -> Planned:
    normalized = normalize_id(record_id)
    spec = next(
        (s for s in SOBJECTS.values() if normalized and normalized.startswith(s.key_prefix)),
        None,
    )
    seq = None if spec is None else id_sequence(spec, record_id)
    row = None if spec is None or seq is None else org.store.get(spec, seq)
    any_spec = next(iter(SOBJECTS.values()))
    if normalized is None:
        error = RecordError("MALFORMED_ID", f"malformed id {record_id}", [])
        return Planned(spec or any_spec, record_id, errors=[error])
    if spec is None or seq is None or row is None:
        error = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        return Planned(spec or any_spec, normalized, errors=[error])
    if row["IsDeleted"]:
        return Planned(
            spec, normalized, errors=[RecordError("ENTITY_IS_DELETED", "entity is deleted")]
        )
    return Planned(spec, normalized, seq)


def delete_collection(org: Org, ids: str | None, all_or_none: str | None) -> list[SaveResult]:
    """DELETE /composite/sobjects?ids=...&allOrNone=...: soft-delete each record by id."""
    wanted = [i.strip() for i in (ids or "").split(",") if i.strip()]
    if not wanted:
        raise SalesforceError(400, "MISSING_ARGUMENT", "ids parameter is required", [])
    _check_size(len(wanted))
    store = org.store
    with store.transaction():
        plans = [_plan_delete(org, record_id) for record_id in wanted]

        def delete(plan: Planned) -> str:
            store.delete(plan.spec, plan.seq, store.clock.next())
            return str(plan.record_id)

        return _settle(plans, (all_or_none or "").lower() == "true", delete)
