"""What each contacts request does, apart from how it arrived (its own route or a `$batch` part).

Updates follow the Web API: `PATCH contacts(<id>)` with `If-Match: *` updates an existing
record or answers 404; with an ETag it updates only that version (else 412); with neither it is
an upsert and creates the record if it does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consent_sync_sandbox.common import Faults
from consent_sync_sandbox.dynamics.errors import (
    CONCURRENCY_VERSION_MISMATCH,
    GENERIC_SQL_ERROR,
    DataverseError,
    bad_request,
    not_found,
)
from consent_sync_sandbox.dynamics.query import ContactQueries, Prefer
from consent_sync_sandbox.dynamics.records import etag, parse_select, write_values
from consent_sync_sandbox.dynamics.store import ContactStore, Row

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """One answer, before it is written out as an HTTP response or a `$batch` part."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def parse_key(key: str) -> str:
    """The GUID inside `contacts(<key>)` (with or without braces), lower-case."""
    text = key.strip().strip("{}")
    if not _GUID.fullmatch(text):
        raise bad_request(f"Bad Request - Error in query syntax: '{key}' is not a valid key.")
    return text.lower()


class ContactsApi:
    """The contacts entity set: list, retrieve, create, update, delete."""

    def __init__(self, store: ContactStore, queries: ContactQueries, faults: Faults) -> None:
        self.store = store
        self.queries = queries
        self.faults = faults

    def query(self, api_root: str, params: Mapping[str, str], prefer: Prefer) -> ApiResponse:
        page = self.queries.collection(api_root, params, prefer)
        headers = {"Preference-Applied": page.preference_applied} if page.preference_applied else {}
        return ApiResponse(200, page.body, headers)

    def retrieve(
        self, api_root: str, key: str, params: Mapping[str, str], if_none_match: str | None
    ) -> ApiResponse:
        contact_id = parse_key(key)
        select = parse_select(params.get("$select"))
        row = self.store.get(contact_id)
        if row is None:
            raise not_found(contact_id)
        if if_none_match is not None and if_none_match.strip() == etag(row):
            return ApiResponse(304)
        return ApiResponse(200, self._entity(api_root, row, select), {"ETag": etag(row)})

    def create(self, api_root: str, body: Any, prefer: Prefer) -> ApiResponse:
        row = self.store.create(write_values(body))
        return self._written(api_root, row, prefer, created=True)

    def update(
        self,
        api_root: str,
        key: str,
        body: Any,
        *,
        if_match: str | None,
        prefer: Prefer,
        in_batch: bool = False,
    ) -> ApiResponse:
        contact_id = parse_key(key)
        values = write_values(body)
        if in_batch and self.faults.record_fails(contact_id):
            raise DataverseError(500, GENERIC_SQL_ERROR, "Generic SQL error.")
        with self.store.transaction():
            current = self.store.get(contact_id)
            if current is None:
                if if_match is not None:
                    raise not_found(contact_id)
                created = self.store.create(values, contact_id)  # PATCH without If-Match upserts
                return self._written(api_root, created, prefer, created=True)
            if (
                if_match is not None
                and if_match.strip() != "*"
                and if_match.strip() != etag(current)
            ):
                raise DataverseError(
                    412,
                    CONCURRENCY_VERSION_MISMATCH,
                    "The version of the existing record doesn't match the RowVersion property "
                    "provided.",
                )
            row = self.store.update(contact_id, values)
        if row is None:  # cannot happen: the store's lock was held since the row was read
            raise not_found(contact_id)
        return self._written(api_root, row, prefer, created=False)

    def delete(self, key: str) -> ApiResponse:
        contact_id = parse_key(key)
        if not self.store.delete(contact_id):
            raise not_found(contact_id)
        return ApiResponse(204)

    def _entity(self, api_root: str, row: Row, select: list[str] | None) -> dict[str, Any]:
        columns = f"({','.join(select)})" if select else ""
        return {
            "@odata.context": f"{api_root}/$metadata#contacts{columns}/$entity",
            **self.queries.render(row, select),
        }

    def _written(self, api_root: str, row: Row, prefer: Prefer, *, created: bool) -> ApiResponse:
        entity_url = f"{api_root}/contacts({row['contactid']})"
        headers = {"OData-EntityId": entity_url}
        if created:
            headers["Location"] = entity_url
        if prefer.return_representation:
            headers["Preference-Applied"] = "return=representation"
            return ApiResponse(201 if created else 200, self._entity(api_root, row, None), headers)
        return ApiResponse(204, None, headers)
