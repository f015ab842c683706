"""Answers a careless API gives: stored values served as something they cannot be.

`PUT /_sandbox/garble` names a member by email and the keys its JSON then carries instead
(`{"status": "maybe"}`, `{"last_changed": "soon"}`, `{"timestamp_opt": "2026-13-45"}`); what is
stored never changes, and filters and sorting still use the true values.
`DELETE /_sandbox/garble` serves the truth again.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, Field

from consent_sync_sandbox.mailchimp.records import subscriber_hash


class Garble(BaseModel):
    """One member's values to serve wrongly, as `PUT /_sandbox/garble` takes it."""

    email: str = Field(description="the member, by email (any case)")
    values: dict[str, Any] = Field(description="keys of the member's JSON to serve instead")


class Garbles:
    """Every garble in force; thread-safe, consulted as members are serialized."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, dict[str, Any]] = {}

    def set(self, garble: Garble) -> None:
        """Serve `garble.values` for that member (added to what it garbled before)."""
        with self._lock:
            self._by_id.setdefault(subscriber_hash(garble.email), {}).update(garble.values)

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()

    def member(self, body: dict[str, Any]) -> dict[str, Any]:
        """A member's JSON, garbled if asked to be."""
        with self._lock:
            values = self._by_id.get(str(body.get("id")))
        return {**body, **values} if values else body
