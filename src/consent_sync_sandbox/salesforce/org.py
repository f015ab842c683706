"""The emulated org's operations: queries with cursors, record reads and writes, replication."""

from __future__ import annotations

import secrets
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from consent_sync_sandbox.common import Faults
from consent_sync_sandbox.salesforce.errors import RecordError, RecordRejected, SalesforceError
from consent_sync_sandbox.salesforce.garble import Garbles
from consent_sync_sandbox.salesforce.query import CompiledQuery, compile_query
from consent_sync_sandbox.salesforce.records import Values, check_write, render
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    SObjectSpec,
    format_datetime,
    id_sequence,
    make_id,
    normalize_id,
    sobject,
)
from consent_sync_sandbox.salesforce.store import Store

DEFAULT_BATCH = 2000
MAX_COLLECTION = 200
MAX_REPLICATION_IDS = 600_000
_ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def require_sobject(name: str) -> SObjectSpec:
    """The sObject type in a URL, or 404 NOT_FOUND as Salesforce answers unknown types."""
    spec = sobject(name)
    if spec is None:
        raise not_found()
    return spec


@dataclass
class _Snapshot:
    query: CompiledQuery
    rowids: array[int]
    batch: int
    endpoint: str


@dataclass
class _Cursors:
    """Open query locators; past 10 the oldest is closed, as Salesforce does per user.

    The cap also bounds memory: a snapshot costs 8 bytes per matching row.
    """

    capacity: int = 10
    _open: OrderedDict[str, _Snapshot] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, snapshot: _Snapshot) -> str:
        locator = "01gDn" + secrets.token_hex(5).upper()[:10] + "IAW"
        with self._lock:
            self._open[locator] = snapshot
            while len(self._open) > self.capacity:
                self._open.popitem(last=False)
        return locator

    def get(self, locator: str) -> _Snapshot | None:
        with self._lock:
            snapshot = self._open.get(locator)
            if snapshot is not None:
                self._open.move_to_end(locator)
            return snapshot


@dataclass
class _Planned:
    """One record of a collection update: its target and values, or why it fails."""

    spec: SObjectSpec
    record_id: str | None
    seq: int = 0
    values: Values = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)


class Org:
    """Everything the REST routes do, over one Store."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self.garbles = Garbles()  # values served as they cannot be (`/_sandbox/garble`)
        self._cursors = _Cursors()

    # -- queries ---------------------------------------------------------------------------

    def query(self, text: str, *, include_deleted: bool, batch: int, version: str) -> Any:
        """Run SOQL; the first page, with `nextRecordsUrl` when more remain."""
        compiled = compile_query(text, include_deleted=include_deleted)
        if compiled.count:
            return {"totalSize": self.store.count(compiled), "done": True, "records": []}
        endpoint = "queryAll" if include_deleted else "query"
        snapshot = _Snapshot(compiled, self.store.select_rowids(compiled), batch, endpoint)
        locator = self._cursors.add(snapshot) if len(snapshot.rowids) > batch else ""
        return self._page(snapshot, locator, 0, version)

    def query_more(self, cursor: str, version: str) -> Any:
        """A later page: `cursor` is `<locator>-<offset>` from `nextRecordsUrl`."""
        locator, _, offset = cursor.rpartition("-")
        snapshot = self._cursors.get(locator)
        if snapshot is None or not offset.isdigit() or int(offset) > len(snapshot.rowids):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(snapshot, locator, int(offset), version)

    def _page(self, snapshot: _Snapshot, locator: str, start: int, version: str) -> Any:
        spec, fields = snapshot.query.spec, snapshot.query.fields
        end = min(start + snapshot.batch, len(snapshot.rowids))
        rows = self.store.fetch(spec, snapshot.rowids[start:end])
        done = end >= len(snapshot.rowids)
        body: dict[str, Any] = {"totalSize": len(snapshot.rowids), "done": done}
        if not done:
            body["nextRecordsUrl"] = (
                f"/services/data/v{version}/{snapshot.endpoint}/{locator}-{end}"
            )
        body["records"] = [self.garbles.record(render(spec, row, fields, version)) for row in rows]
        return body

    # -- single records --------------------------------------------------------------------

    def _locate(self, spec: SObjectSpec, record_id: str) -> int:
        seq = id_sequence(spec, record_id)
        if seq is None or self.store.get(spec, seq) is None:
            raise not_found()
        return seq

    def read(self, spec: SObjectSpec, record_id: str, field_names: str | None, version: str) -> Any:
        row = self.store.get(spec, self._locate(spec, record_id))
        if row is None:
            raise not_found()
        if row["IsDeleted"]:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        fields: list[FieldSpec] | None = None
        if field_names:
            fields = []
            for name in field_names.split(","):
                found = spec.field(name.strip())
                if found is None:
                    raise SalesforceError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name.strip()}' on sobject of type {spec.name}",
                    )
                fields.append(found)
        return self.garbles.record(render(spec, row, fields, version))

    def create(self, spec: SObjectSpec, body: Any) -> Any:
        if not isinstance(body, dict):
            raise _json_error()
        values, errors = check_write(spec, body, creating=True)
        if errors:
            raise RecordRejected(errors)
        with self.store.transaction():
            seq = self.store.insert(spec, values, self.store.clock.next())
        return {"id": make_id(spec.key_prefix, seq), "success": True, "errors": []}

    def update(self, spec: SObjectSpec, record_id: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise _json_error()
        with self.store.transaction():
            plan = self._plan(spec, record_id, body)
            if plan.errors:
                status = 404 if plan.errors[0].status_code == "ENTITY_IS_DELETED" else 400
                raise RecordRejected(plan.errors, status)
            self.store.update(spec, plan.seq, plan.values, self.store.clock.next())

    def delete(self, spec: SObjectSpec, record_id: str) -> None:
        with self.store.transaction():
            seq = self._locate(spec, record_id)
            row = self.store.get(spec, seq)
            if row is not None and row["IsDeleted"]:
                raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
            self.store.delete(spec, seq, self.store.clock.next())

    # -- sObject collections -----------------------------------------------------------------

    def update_collection(self, body: Any) -> list[dict[str, Any]]:
        """PATCH /composite/sobjects: up to 200 updates, per-record SaveResults in order."""
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _json_error()
        records: list[Any] = body["records"]
        all_or_none = body.get("allOrNone", False) is True
        if len(records) > MAX_COLLECTION:
            raise SalesforceError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                [],
            )
        with self.store.transaction():
            plans = [self._plan_item(item) for item in records]
            failed = any(p.errors for p in plans)
            results = []
            for plan in plans:
                if plan.errors or (all_or_none and failed):
                    errors = plan.errors or [_ROLLED_BACK]
                    result: dict[str, Any] = (
                        {} if plan.record_id is None else {"id": plan.record_id}
                    )
                    result.update(success=False, errors=[e.as_json() for e in errors])
                    results.append(result)
                    continue
                self.store.update(plan.spec, plan.seq, plan.values, self.store.clock.next())
                results.append({"id": plan.record_id, "success": True, "errors": []})
        return results

    def _plan_item(self, item: Any) -> _Planned:
        if not isinstance(item, dict):
            raise _json_error()
        attributes = item.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(type_name, str):
            raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
        spec = sobject(type_name)
        if spec is None:
            raise SalesforceError(
                400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.", []
            )
        fields = {k: v for k, v in item.items() if k.lower() != "id"}
        record_id = next((v for k, v in item.items() if k.lower() == "id"), None)
        if not isinstance(record_id, str) or not record_id:
            missing = RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
            return _Planned(spec, None, errors=[missing])
        return self._plan(spec, record_id, fields)

    def _plan(self, spec: SObjectSpec, record_id: str, body: dict[str, Any]) -> _Planned:
        normalized = normalize_id(record_id)
        seq = id_sequence(spec, record_id)
        if normalized is None or not normalized.startswith(spec.key_prefix):
            error = RecordError(
                "MALFORMED_ID", f"{spec.label} ID: id value of incorrect type: {record_id}", ["Id"]
            )
            return _Planned(spec, record_id, errors=[error])
        row = None if seq is None else self.store.get(spec, seq)
        if seq is None or row is None:
            error = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            return _Planned(spec, normalized, errors=[error])
        if row["IsDeleted"]:
            deleted = RecordError("ENTITY_IS_DELETED", "entity is deleted")
            return _Planned(spec, normalized, errors=[deleted])
        values, errors = check_write(spec, body, creating=False)
        if not errors and self.faults.record_fails(normalized):
            errors = [
                RecordError(
                    "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record or 1 records: {normalized}",
                )
            ]
        return _Planned(spec, normalized, seq, values, errors)

    # -- replication -------------------------------------------------------------------------

    def updated(self, spec: SObjectSpec, start: int, end: int, now: int) -> Any:
        ids = self.store.modified_between(spec, start, end, MAX_REPLICATION_IDS + 1)
        if len(ids) > MAX_REPLICATION_IDS:
            raise _too_many_ids()
        return {"ids": ids, "latestDateCovered": format_datetime(min(end, now))}

    def deleted(self, spec: SObjectSpec, start: int, end: int, now: int, earliest: int) -> Any:
        found = self.store.deleted_between(spec, start, end, MAX_REPLICATION_IDS + 1)
        if len(found) > MAX_REPLICATION_IDS:
            raise _too_many_ids()
        return {
            "deletedRecords": [
                {"id": record_id, "deletedDate": format_datetime(ms)} for record_id, ms in found
            ],
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(min(end, now)),
        }


def _json_error() -> SalesforceError:
    return SalesforceError(
        400, "JSON_PARSER_ERROR", "The request body is not a valid JSON object for this resource."
    )


def _too_many_ids() -> SalesforceError:
    return SalesforceError(
        400,
        "EXCEEDED_ID_LIMIT",
        "The number of results exceeds the maximum of 600000; narrow the start and end dates.",
    )
