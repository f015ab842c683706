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
from consent_sync_sandbox.salesforce.objects import sobject
from consent_sync_sandbox.salesforce.query import CompiledQuery, compile_query
from consent_sync_sandbox.salesforce.records import render, render_rows
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    SObjectSpec,
    format_datetime,
    id_sequence,
    make_id,
    normalize_id,
)
from consent_sync_sandbox.salesforce.store import Store
from consent_sync_sandbox.salesforce.writes import (
    Values,
    check_references,
    check_write,
    with_derived,
)

DEFAULT_BATCH = 2000
MAX_REPLICATION_IDS = 600_000


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
class Planned:
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
        include_deleted = snapshot.query.include_deleted
        rendered = render_rows(
            self.store, spec, rows, fields, version, include_deleted=include_deleted
        )
        body["records"] = [self.garbles.record(record) for record in rendered]
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
            raise json_error()
        with self.store.transaction():
            values, errors = self.plan_create(spec, body)
            if errors:
                raise RecordRejected(errors)
            seq = self.store.insert(spec, values, self.store.clock.next())
        return {"id": make_id(spec.key_prefix, seq), "success": True, "errors": []}

    def plan_create(
        self, spec: SObjectSpec, body: dict[str, Any]
    ) -> tuple[Values, list[RecordError]]:
        """The values a create would insert, or why it fails (call inside a transaction)."""
        values, errors = check_write(spec, body, creating=True)
        errors += check_references(self.store, values)
        return with_derived(spec, values, None), errors

    def update(self, spec: SObjectSpec, record_id: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise json_error()
        with self.store.transaction():
            plan = self.plan_update(spec, record_id, body)
            if plan.errors:
                first = plan.errors[0]  # the record itself deleted: 404; a lookup's target: 400
                status = (
                    404 if first.status_code == "ENTITY_IS_DELETED" and not first.fields else 400
                )
                raise RecordRejected(plan.errors, status)
            self.store.update(spec, plan.seq, plan.values, self.store.clock.next())

    def delete(self, spec: SObjectSpec, record_id: str) -> None:
        with self.store.transaction():
            seq = self._locate(spec, record_id)
            row = self.store.get(spec, seq)
            if row is not None and row["IsDeleted"]:
                raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
            self.store.delete(spec, seq, self.store.clock.next())

    def plan_update(self, spec: SObjectSpec, record_id: str, body: dict[str, Any]) -> Planned:
        """An update's target and checked values, or why it fails (call inside a transaction)."""
        normalized = normalize_id(record_id)
        seq = id_sequence(spec, record_id)
        if normalized is None or not normalized.startswith(spec.key_prefix):
            error = RecordError(
                "MALFORMED_ID", f"{spec.label} ID: id value of incorrect type: {record_id}", ["Id"]
            )
            return Planned(spec, record_id, errors=[error])
        row = None if seq is None else self.store.get(spec, seq)
        if seq is None or row is None:
            error = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            return Planned(spec, normalized, errors=[error])
        if row["IsDeleted"]:
            deleted = RecordError("ENTITY_IS_DELETED", "entity is deleted")
            return Planned(spec, normalized, errors=[deleted])
        values, errors = check_write(spec, body, creating=False)
        errors += check_references(self.store, values)
        if not errors and self.faults.record_fails(normalized):
            errors = [
                RecordError(
                    "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record or 1 records: {normalized}",
                )
            ]
        return Planned(spec, normalized, seq, with_derived(spec, values, row), errors)

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


def json_error() -> SalesforceError:
    return SalesforceError(
        400, "JSON_PARSER_ERROR", "The request body is not a valid JSON object for this resource."
    )


def _too_many_ids() -> SalesforceError:
    return SalesforceError(
        400,
        "EXCEEDED_ID_LIMIT",
        "The number of results exceeds the maximum of 600000; narrow the start and end dates.",
    )
