"""Reading Salesforce answers: records, timestamps, error codes and per-record save results."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from consent_sync.domain.records import FieldWrite, Quota, Record, Unreadable, WriteResult

#: Per-record or request-level codes worth trying again: another transaction holds the row.
TRANSIENT_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"}
)
#: The record is no longer there (deleted, or never was): its link ends.
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_STAMP_MAX = 64  # characters: no dateTime is longer
_LIMIT_INFO = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")


def is_record_id(value: str) -> bool:
    """Whether `value` is a well-formed 15- or 18-character id (with a matching checksum).

    One malformed id in `Id IN (...)` fails the whole query (INVALID_QUERY_FILTER_OPERATOR),
    so reads drop such ids: no record can have them.
    """
    if not _ID.match(value):
        return False
    if len(value) == 15:
        return True
    suffix = ""
    for start in (0, 5, 10):
        flags = sum(1 << bit for bit, c in enumerate(value[start : start + 5]) if "A" <= c <= "Z")
        suffix += _CHECKSUM[flags]
    return value[15:] == suffix


def parse_sf_datetime(value: str) -> datetime:
    """Salesforce's `2024-01-02T03:04:05.000+0000` as an aware UTC datetime.

    ValueError when `value` is not one (without a zone it would be read in local time).
    """
    if len(value) > _STAMP_MAX:
        raise ValueError("not a Salesforce dateTime")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a Salesforce dateTime without its zone")
    return parsed.astimezone(UTC)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP `Date` header as an aware UTC datetime (None when absent or not a date)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_limit_info(header: str | None) -> Quota | None:
    """The org's daily usage from `Sforce-Limit-Info` (`api-usage=N/M; per-app-api-usage=...`).

    The per-app figure is a connected app's own cap, not the org's quota, and is ignored.
    """
    match = _LIMIT_INFO.search(header or "")
    return Quota(int(match.group(1)), int(match.group(2))) if match else None


def error_details(content: Any) -> tuple[list[str], str]:
    """The error codes and the first message of a REST error body (`[{errorCode, message}]`)."""
    items = content if isinstance(content, list) else [content]
    errors = [e for e in items if isinstance(e, dict) and "errorCode" in e]
    codes = [str(e["errorCode"]) for e in errors]
    message = str(errors[0].get("message", "")) if errors else ""
    return codes, message


def write_results(batch: Sequence[FieldWrite], answer: Sequence[Any]) -> list[WriteResult]:
    """One result per write from a collection answer (SaveResults in request order).

    A write the answer has no readable entry for is reported retryable: sending it again is
    harmless.
    """
    results: list[WriteResult] = []
    for write, outcome in zip(batch, answer, strict=False):
        if not isinstance(outcome, Mapping):
            results.append(WriteResult(write.record_id, False, "unreadable result", retryable=True))
            continue
        if outcome.get("success") is True:
            results.append(WriteResult(write.record_id, True))
            continue
        errors = [e for e in outcome.get("errors") or [] if isinstance(e, dict)]
        codes = {str(e.get("statusCode")) for e in errors}
        results.append(
            WriteResult(
                write.record_id,
                False,
                "; ".join(_describe_error(e) for e in errors) or "unknown error",
                retryable=bool(codes & TRANSIENT_CODES),
                gone=bool(codes & GONE_CODES),
            )
        )
    for write in batch[len(answer) :]:
        results.append(WriteResult(write.record_id, False, "no result returned", retryable=True))
    return results


def _describe_error(error: Mapping[str, Any]) -> str:
    fields = error.get("fields") or []
    where = f" ({', '.join(str(f) for f in fields)})" if fields else ""
    return f"{error.get('statusCode')}: {error.get('message')}{where}"


def record_from_row(object_type: str, row: Any) -> Record:
    """A queried row as a record; one whose id, stamp or deletion flag will not parse is broken
    (docs/design.md, "Containment"). The row becomes the record's fields (it is the page's own)."""
    if not isinstance(row, dict):
        return Record.broken(object_type, "", Unreadable.of("row", row, "not a record object"))
    row.pop("attributes", None)  # each row is a fresh dict this page owns
    record_id = row.get("Id")
    if not isinstance(record_id, str) or not is_record_id(record_id):
        return Record.broken(object_type, "", Unreadable.of("Id", record_id, "not a record id"))
    stamp = row.get("SystemModstamp")
    try:
        modified_at = parse_sf_datetime(stamp) if isinstance(stamp, str) else None
    except (ValueError, OverflowError):
        modified_at = None
    if modified_at is None:
        problem = Unreadable.of("SystemModstamp", stamp, "not a Salesforce dateTime")
        return Record.broken(object_type, record_id, problem)
    deleted = row.get("IsDeleted", False)
    if not isinstance(deleted, bool):
        # "false" read as a deletion would end the link: only a JSON boolean says either.
        problem = Unreadable.of("IsDeleted", deleted, "not a boolean")
        return Record.broken(object_type, record_id, problem, modified_at)
    return Record(object_type, record_id, row, modified_at, deleted=deleted)
