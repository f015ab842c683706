"""Bulk API 2.0 query jobs: create, poll, page the results as CSV by locator, abort, delete, list.

Full reads of a large object go through a query job instead of REST `query` paging. A job runs
the same SOQL engine as REST (`query.compile_query`), so for the same SOQL it returns the same
records, in the same order; `queryAll` includes deleted rows as REST `queryAll` does. The
matching rows are snapshotted when the job is created (8 bytes per row) and rendered to CSV only
as each results page streams out, a chunk at a time: a million-row job never becomes one string.

A job is never done at once, so clients really poll: created `UploadComplete`, its first status
poll says `InProgress`, and it turns `JobComplete` on a later poll once its processing time
(`BASE_PROCESSING_S` plus a little per row) has passed. Results of a job that is not complete
are refused (412 JOB_NOT_COMPLETE), as Salesforce refuses them.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import itertools
import json
import re
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse

from consent_sync_sandbox.salesforce import soql
from consent_sync_sandbox.salesforce.auth import USER_ID
from consent_sync_sandbox.salesforce.errors import SalesforceError
from consent_sync_sandbox.salesforce.org import Org, not_found
from consent_sync_sandbox.salesforce.query import CompiledQuery, compile_query
from consent_sync_sandbox.salesforce.records import Parents, parents_of, present, stored_value
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    format_datetime,
    make_id,
    normalize_id,
)
from consent_sync_sandbox.salesforce.store import Row

#: Salesforce documents no fixed default page ("a default value based on the service");
#: simple-salesforce always asks for 50,000, so the emulator uses that when none is given.
DEFAULT_MAX_RECORDS = 50_000
BASE_PROCESSING_S = 0.2
PER_ROW_PROCESSING_S = 1e-6
MAX_JOBS = 100  # jobs kept (oldest finished ones go first), bounding the snapshots' memory
_CHUNK = 2000  # rows fetched and rendered per streamed piece of a results page
JOB_KEY_PREFIX = "750"
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^"}
DELIMITERS["BACKQUOTE"] = "`"
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("query", "queryAll")
TERMINAL = ("JobComplete", "Aborted", "Failed")
CSV_TYPE = "text/csv; charset=UTF-8"
JSON_TYPE = "application/json;charset=UTF-8"
Payload = Annotated[Any, Body()]


def _api_error(message: str, status: int = 400, code: str = "API_ERROR") -> SalesforceError:
    return SalesforceError(status, code, message)


def encode_locator(offset: int) -> str:
    """Salesforce's locators look like `MTAwMDA`: base64 of the next row's offset."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int | None:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


@dataclass
class QueryJob:
    """One query job: its parameters, its row snapshot and where it is in its life."""

    id: str
    operation: str
    query: CompiledQuery
    rowids: array[int]
    version: str
    delimiter: str
    line_ending: str
    created_ms: int
    ready_at: float  # monotonic: not complete before this
    state: str = "UploadComplete"
    polled: bool = False
    modstamp_ms: int = 0
    processing_ms: int = 0

    def poll(self, now: float) -> None:
        """A status poll: the first reports InProgress, a later one past `ready_at` completes."""
        if self.state in TERMINAL:
            return
        if self.polled and now >= self.ready_at:
            self.state = "JobComplete"
            self.modstamp_ms = int(time.time() * 1000)
            self.processing_ms = max(1, self.modstamp_ms - self.created_ms)
        else:
            self.state = "InProgress"
        self.polled = True

    def info(self, *, full: bool = True) -> dict[str, Any]:
        """The job as `GET /jobs/query/{id}` shows it (`full=False`: as create answers)."""
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.query.spec.name,
            "createdById": USER_ID,
            "createdDate": format_datetime(self.created_ms),
            "systemModstamp": format_datetime(self.modstamp_ms or self.created_ms),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
        }
        if full:
            body["jobType"] = "V2Query"
        body["lineEnding"] = self.line_ending
        body["columnDelimiter"] = self.delimiter
        if full:
            done = self.state == "JobComplete"
            body["numberRecordsProcessed"] = len(self.rowids) if done else 0
            body["retries"] = 0
            body["totalProcessingTime"] = self.processing_ms
            body["isPkChunkingSupported"] = True
        return body


@dataclass
class QueryJobs:
    """Every query job of the org, by id; thread-safe."""

    org: Org
    _jobs: OrderedDict[str, QueryJob] = field(default_factory=OrderedDict)
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, body: Any, version: str) -> QueryJob:
        """Check the request and the SOQL (errors answer the create), snapshot the rows."""
        if not isinstance(body, dict):
            raise _api_error("The request body is not a JSON object.", code="JSON_PARSER_ERROR")
        operation = _choice(body, "operation", OPERATIONS, None)
        delimiter = _choice(body, "columnDelimiter", tuple(DELIMITERS), "COMMA")
        line_ending = _choice(body, "lineEnding", tuple(LINE_ENDINGS), "LF")
        _choice(body, "contentType", ("CSV",), "CSV")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise _api_error("A query is required for a query job.", code="INVALIDJOB")
        compiled = compile_query(text, include_deleted=operation == "queryAll")
        _check_supported(text, compiled)
        rowids = self.org.store.select_rowids(compiled)
        delay = BASE_PROCESSING_S + PER_ROW_PROCESSING_S * len(rowids)
        with self._lock:
            job_id = make_id(JOB_KEY_PREFIX, next(self._serial))
            job = QueryJob(
                job_id,
                operation,
                compiled,
                rowids,
                version,
                delimiter,
                line_ending,
                created_ms=int(time.time() * 1000),
                ready_at=time.monotonic() + delay,
            )
            self._jobs[job_id] = job
            self._evict()
        return job

    def _evict(self) -> None:
        while len(self._jobs) > MAX_JOBS:
            finished = [j for j in self._jobs.values() if j.state in TERMINAL]
            victim = finished[0].id if finished else next(iter(self._jobs))
            del self._jobs[victim]

    def get(self, job_id: str) -> QueryJob:
        with self._lock:
            job = self._jobs.get(normalize_id(job_id) or job_id)  # 15 or 18 characters
        if job is None:
            raise not_found()
        return job

    def poll(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        with self._lock:
            job.poll(time.monotonic())
            return job.info()

    def abort(self, job_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise _api_error("A query job can only be set to the state Aborted.", code="INVALIDJOB")
        job = self.get(job_id)
        with self._lock:
            if job.state in TERMINAL:
                raise _api_error(f"Cannot abort a job in the state {job.state}.")
            job.state = "Aborted"
            job.modstamp_ms = int(time.time() * 1000)
            job.rowids = array("q")  # an aborted job's results are gone
            return job.info(full=False)

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        with self._lock:
            if job.state not in TERMINAL:
                raise _api_error(
                    "Error encountered when deleting the job because the job is not terminated"
                )
            self._jobs.pop(job.id, None)

    def listing(self, job_type: str | None) -> dict[str, Any]:
        with self._lock:
            jobs = [] if job_type not in (None, "V2Query") else list(self._jobs.values())
            records = [j.info() for j in jobs]
        return {"done": True, "records": records, "nextRecordsUrl": None}

    def results(
        self, job_id: str, version: str, locator: str | None, max_records: str | None
    ) -> StreamingResponse:
        """One page of CSV from `locator` (the first page without it), at most `maxRecords`."""
        job = self.get(job_id)
        if job.state != "JobComplete":
            status = re.sub(r"(?<!^)(?=[A-Z])", "_", job.state).upper()  # IN_PROGRESS
            raise _api_error(
                "can only download query results of successfully completed bulk job with "
                f"status: JOB_COMPLETE. Current status: {status}",
                412,
                "JOB_NOT_COMPLETE",
            )
        if version != job.version:
            raise _api_error(
                f"The job was created in API version {job.version}; get its results with it.",
                409,
            )
        size = DEFAULT_MAX_RECORDS
        if max_records is not None:
            if not max_records.isdigit() or int(max_records) < 1:
                raise _api_error(f"Invalid maxRecords: {max_records}", code="INVALIDMAXRECORDS")
            size = int(max_records)
        start = 0 if not locator else decode_locator(locator)
        if start is None or start > len(job.rowids):
            raise _api_error(f"Invalid locator: {locator}", code="INVALIDLOCATOR")
        end = min(start + size, len(job.rowids))
        headers = {
            "Sforce-Locator": encode_locator(end) if end < len(job.rowids) else "null",
            "Sforce-NumberOfRecords": str(end - start),
        }
        body = self._csv(job, job.rowids[start:end])
        return StreamingResponse(body, headers=headers, media_type=CSV_TYPE)

    def _csv(self, job: QueryJob, rowids: array[int]) -> Iterator[bytes]:
        """The page as RFC 4180 CSV: every value quoted, nulls empty, header first."""
        spec, fields = job.query.spec, job.query.fields
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=DELIMITERS[job.delimiter],
            lineterminator=LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        names = [f.name for f in fields]
        converters = [(item, _converter(item.field)) for item in fields]
        garbles = self.org.garbles
        store = self.org.store
        writer.writerow(names)

        def cells(row: Row, parents: Parents) -> list[str | None]:
            values = [convert(stored_value(row, parents, item)) for item, convert in converters]
            served = garbles.record({"Id": row["Id"], **dict(zip(names, values, strict=True))})
            garbled = [served[name] for name in names]
            return values if garbled == values else [_text(v) for v in garbled]

        for at in range(0, len(rowids), _CHUNK):
            rows = store.fetch(spec, rowids[at : at + _CHUNK])
            parents = parents_of(
                store, spec, rows, fields, include_deleted=job.query.include_deleted
            )
            writer.writerows(map(cells, rows, parents))
            yield _drain(buffer)
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data


def _boolean(value: Any) -> str:
    return "true" if value else "false"


def _stamp(value: Any) -> str | None:
    """Bulk CSV writes datetimes in UTC with `Z` (REST JSON writes `+0000`)."""
    return None if value is None else format_datetime(int(value)).replace("+0000", "Z")


def _plain(value: Any) -> str | None:
    return None if value is None else str(value)


def _converter(spec: FieldSpec) -> Callable[[Any], str | None]:
    """How a stored value of this field is written as CSV text (None: an empty value)."""
    if spec.type == "boolean":
        return _boolean
    if spec.type == "datetime":
        return _stamp
    if spec.type == "reference":
        return lambda value: present(spec, value)
    return _plain


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = body.get(name, default)
    if value not in allowed or not isinstance(value, str):
        shown = "null" if value is None else repr(value)
        raise _api_error(
            f"Cannot deserialize {name} from {shown}: expected one of {', '.join(allowed)}",
            code="JSON_PARSER_ERROR",
        )
    return value


def _check_supported(text: str, compiled: CompiledQuery) -> None:
    """Bulk API 2.0 refuses aggregate functions and OFFSET (LIMIT and ORDER BY are allowed)."""
    if compiled.count:
        raise _api_error("Aggregate functions such as COUNT() are not supported.", code="API_ERROR")
    if soql.parse(text).offset is not None:
        raise _api_error("OFFSET is not supported in a Bulk API 2.0 query.", code="API_ERROR")


def add_bulk2_routes(router: APIRouter, org: Org) -> None:
    """Mount `/jobs/query...` on the versioned API router (its guard: session and quota)."""
    jobs = QueryJobs(org)

    def json_response(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status, media_type=JSON_TYPE)

    def create(version: str, payload: Payload = None) -> Response:
        return json_response(jobs.create(payload, version).info(full=False))

    def listing(job_type: Annotated[str | None, Query(alias="jobType")] = None) -> Response:
        return json_response(jobs.listing(job_type))

    def status(job_id: str) -> Response:
        return json_response(jobs.poll(job_id))

    def abort(job_id: str, payload: Payload = None) -> Response:
        return json_response(jobs.abort(job_id, payload))

    def delete(job_id: str) -> Response:
        jobs.delete(job_id)
        return Response(status_code=204)

    def results(
        version: str,
        job_id: str,
        locator: str | None = None,
        max_records: Annotated[str | None, Query(alias="maxRecords")] = None,
    ) -> StreamingResponse:
        return jobs.results(job_id, version, locator, max_records)

    for method, path, endpoint in (
        ("POST", "/jobs/query", create),
        ("GET", "/jobs/query", listing),
        ("GET", "/jobs/query/{job_id}", status),
        ("PATCH", "/jobs/query/{job_id}", abort),
        ("DELETE", "/jobs/query/{job_id}", delete),
        ("GET", "/jobs/query/{job_id}/results", results),
    ):
        router.add_api_route(path, endpoint, methods=[method])
        router.add_api_route(path + "/", endpoint, methods=[method], include_in_schema=False)
