"""Answers a careless org gives: stored field values served as something they cannot be.

`PUT /_sandbox/garble` names a record by id and the fields to serve in place of the stored ones
(`{"SystemModstamp": "2026-13-45T00:00:00.000+0000"}`, `{"IsDeleted": "false"}`) wherever a
query or a read returns that field. What is stored never changes, and SOQL still filters and
sorts on the true values; `DELETE /_sandbox/garble` serves the truth again.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, Field


class Garble(BaseModel):
    """One record's fields to serve wrongly, as `PUT /_sandbox/garble` takes it."""

    id: str = Field(description="the record (15 or 18 characters, as the API returns it)")
    fields: dict[str, Any] = Field(description="field values to serve in place of the stored")


class Garbles:
    """Every garble in force; thread-safe, consulted as records are rendered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}

    def set(self, garble: Garble) -> None:
        """Serve `garble.fields` for that record (added to what it garbled before)."""
        with self._lock:
            self._records.setdefault(garble.id[:15], {}).update(garble.fields)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def record(self, rendered: dict[str, Any]) -> dict[str, Any]:
        """A rendered record, garbled if asked to be (only the fields it carries)."""
        record_id = rendered.get("Id")
        if not isinstance(record_id, str):
            return rendered
        with self._lock:
            values = self._records.get(record_id[:15])
        if values:
            rendered.update({k: v for k, v in values.items() if k in rendered})
        return rendered
