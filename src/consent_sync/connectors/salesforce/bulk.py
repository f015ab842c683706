"""Full reads of a large object through a Bulk API 2.0 query job, streamed page by page.

A REST full read of 100,000 records is 50 `query`/`queryMore` calls of 2,000; a query job is a
create, a few status polls, one results call per `max_records` and a delete. The job runs the
same SOQL the REST full read sends (queryAll: records in the recycle bin come back deleted),
without ORDER BY, which Salesforce asks query jobs not to use (it disables PK chunking): rows
arrive in no stamp order, so only the last page carries a watermark (docs/design.md, "The sync
cycle"), taken by the caller before the job was created — a job holds only the records that
matched when it was created, and anything changed after that is read by the next pull.

Results are CSV (every value text, nulls empty, booleans `true`/`false`, datetimes
`2026-11-30T12:00:00.000Z`). Each results response is parsed as it streams and handed on
`page_size` rows at a time, so memory holds one page of rows whatever `max_records` is; values
are turned back into what REST's JSON would have carried (per the object's describe) so both
paths produce the same records and the same strict parsing applies downstream.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, TypeVar, cast

import requests
import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.util import call_salesforce

from consent_sync.connectors.protocol import PermanentError, TransientError

T = TypeVar("T")
log = structlog.get_logger(__name__)

#: Bulk API 2.0 job states after which nothing changes.
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
_CSV_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$")
_NUMBER_TYPES = frozenset({"double", "currency", "percent"})
_TYPED = _NUMBER_TYPES | {"boolean", "datetime", "int"}
_BOOLEANS = {"true": True, "false": False}
#: A results stream that breaks off, or turns to garbage, is fetched again from its locator.
_STREAM_ERRORS = (
    requests.exceptions.ChunkedEncodingError,
    requests.ConnectionError,
    requests.Timeout,
    UnicodeDecodeError,
    csv.Error,
)

Call = Callable[[str, Callable[[Salesforce], Any]], Any]


@dataclass(frozen=True, slots=True)
class BulkSettings:
    """How a query job is run: result page size, polling backoff and its bound."""

    max_records: int = 50_000  # rows per results call (the stream keeps memory flat)
    page_size: int = 2000  # rows per Page handed to the engine
    poll_initial: float = 0.25  # seconds before the first status poll
    poll_max: float = 10.0  # the backoff's ceiling
    timeout: float = 1800.0  # a job not complete after this long is aborted
    stream_attempts: int = 4  # fetches of one results page that break off mid-stream


class BulkQuery:
    """One query job's life: create, poll with backoff, stream results, delete.

    `call(what, fn)` runs `fn(sf)` through the connector's retry layer (429, 5xx, re-auth), so
    every request is counted and retried like a REST one.
    """

    def __init__(
        self,
        call: Call,
        settings: BulkSettings,
        *,
        system: str,
        object_type: str,
        field_types: Mapping[str, str],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._call = call
        self.settings = settings
        self._ctx: dict[str, Any] = {"system": system, "object_type": object_type}
        self._types = field_types
        self._sleep = sleep
        self.rows_held = 0  # the most rows parsed and not yet handed on, at any moment

    def rows(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """The query's rows, as REST would have returned them, `page_size` at a time."""
        job = self._call(
            "bulk create",
            lambda sf: _request(
                sf, "POST", "jobs/query", json={"operation": "queryAll", "query": soql}
            ).json(),
        )
        job_id = job.get("id") if isinstance(job, dict) else None
        if not isinstance(job_id, str) or not re.fullmatch(r"[A-Za-z0-9]{15,18}", job_id):
            raise TransientError("bulk create: answer carries no job id", **self._ctx)
        try:
            self._wait(job_id)
            yield from self._results(job_id)
        finally:
            self._delete(job_id)

    # -- the job's states -----------------------------------------------------------------

    def _wait(self, job_id: str) -> None:
        """Poll until the job is complete, backing off; Failed, Aborted or too slow raise."""
        started = time.monotonic()
        wait = self.settings.poll_initial
        while True:
            self._sleep(wait)
            info = self._call(
                "bulk poll", lambda sf: _request(sf, "GET", f"jobs/query/{job_id}").json()
            )
            state = info.get("state") if isinstance(info, dict) else None
            if state == "JobComplete":
                return
            if state == "Failed":
                # Salesforce's own verdict on this query (its errorMessage says why): running
                # the same query again fails the same way.
                detail = str(info.get("errorMessage") or "no reason given")
                raise PermanentError(f"bulk query job {job_id} failed: {detail}", **self._ctx)
            if state == "Aborted":
                raise TransientError(f"bulk query job {job_id} was aborted", **self._ctx)
            if time.monotonic() - started > self.settings.timeout:
                self._abort(job_id)
                raise TransientError(
                    f"bulk query job {job_id} not complete after {self.settings.timeout:.0f} s",
                    **self._ctx,
                )
            wait = min(wait * 2, self.settings.poll_max)

    def _abort(self, job_id: str) -> None:
        try:
            self._call(
                "bulk abort",
                lambda sf: _request(
                    sf, "PATCH", f"jobs/query/{job_id}", json={"state": "Aborted"}
                ).json(),
            )
        except (TransientError, PermanentError) as exc:
            log.warning("bulk job not aborted", job=job_id, error=str(exc), **self._ctx)

    def _delete(self, job_id: str) -> None:
        """Delete the job (its results count against the org's storage); a failure is logged.

        The answer is an empty 204: it is not read as JSON (simple-salesforce's own
        `delete_job` would).
        """
        try:
            self._call("bulk delete", lambda sf: _request(sf, "DELETE", f"jobs/query/{job_id}"))
        except (TransientError, PermanentError) as exc:
            log.warning("bulk job not deleted", job=job_id, error=str(exc), **self._ctx)

    # -- results --------------------------------------------------------------------------

    def _results(self, job_id: str) -> Iterator[list[dict[str, Any]]]:
        """Every results page by `Sforce-Locator`; a page cut off mid-stream is fetched again
        and its rows already handed on are skipped."""
        locator: str | None = None
        while True:
            handed = 0
            for attempt in range(1, self.settings.stream_attempts + 1):
                response = self._fetch(job_id, locator)
                try:
                    for chunk in self._chunks(response, skip=handed):
                        handed += len(chunk)
                        yield chunk
                    break
                except _STREAM_ERRORS as exc:
                    if attempt == self.settings.stream_attempts:
                        raise TransientError(
                            f"bulk results: stream broke off {attempt} times", **self._ctx
                        ) from exc
                    log.warning("bulk results stream broke off; fetching again", **self._ctx)
                finally:
                    response.close()
            following = response.headers.get("Sforce-Locator")
            if not following or following == "null":
                return
            locator = following

    def _fetch(self, job_id: str, locator: str | None) -> requests.Response:
        params: dict[str, Any] = {"maxRecords": self.settings.max_records}
        if locator:
            params["locator"] = locator

        def get(sf: Salesforce) -> requests.Response:
            return _request(
                sf,
                "GET",
                f"jobs/query/{job_id}/results",
                params=params,
                stream=True,
                headers={"Accept": "text/csv"},
            )

        response: requests.Response = self._call("bulk results", get)
        return response

    def _chunks(self, response: requests.Response, *, skip: int) -> Iterator[list[dict[str, Any]]]:
        response.raw.decode_content = True
        text = io.TextIOWrapper(cast(IO[bytes], response.raw), encoding="utf-8", newline="")
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        convert = [_converter(self._types.get(name, "string")) for name in header]
        chunk: list[dict[str, Any]] = []
        for index, cells in enumerate(reader):
            if index < skip:
                continue
            chunk.append(
                {name: f(cell) for name, f, cell in zip(header, convert, cells, strict=False)}
            )
            self.rows_held = max(self.rows_held, len(chunk))
            if len(chunk) >= self.settings.page_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _text(cell: str) -> str | None:
    return cell or None


def _boolean(cell: str) -> Any:
    return _BOOLEANS.get(cell, cell) if cell else None


def _datetime(cell: str) -> str | None:
    if cell.endswith("Z") and _CSV_STAMP.match(cell):
        return cell[:-1] + "+0000"
    return cell or None


def _converter(field_type: str) -> Callable[[str], Any]:
    """How one column's cells become REST's values (text columns: only empty means null)."""
    if field_type == "boolean":
        return _boolean
    if field_type == "datetime":
        return _datetime
    if field_type in _TYPED:
        return lambda cell: rest_value(field_type, cell)
    return _text


def rest_value(field_type: str, cell: str) -> Any:
    """A CSV cell as REST's JSON carries the same value (nulls are empty cells)."""
    if cell == "":
        return None
    if field_type == "boolean":
        return _BOOLEANS.get(cell, cell)
    if field_type == "datetime":
        return cell[:-1] + "+0000" if _CSV_STAMP.match(cell) else cell
    if field_type == "int":
        return int(cell) if re.fullmatch(r"-?\d+", cell) else cell
    if field_type in _NUMBER_TYPES:
        try:
            return float(cell)
        except ValueError:
            return cell
    return cell


def _request(sf: Salesforce, method: str, path: str, **kwargs: Any) -> requests.Response:
    """One REST call under the session's base URL; an error status raises SalesforceError."""
    headers = {**sf.headers, **kwargs.pop("headers", {})}
    return call_salesforce(sf.base_url + path, method, sf.session, headers, **kwargs)
