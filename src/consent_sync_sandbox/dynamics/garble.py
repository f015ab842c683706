"""Answers a careless CRM gives: stored values served as something they cannot be.

`PUT /_sandbox/garble` names a contact by email and the keys to serve instead
(`{"modifiedon": "soon"}`, `{"donotbulkemail": "maybe"}`, `{"contactid": "x"}`). What is
stored never changes, and filters and ordering still work on the true values;
`DELETE /_sandbox/garble` serves the truth again.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, Field

from consent_sync_sandbox.dynamics.store import Row, email_key


class Garble(BaseModel):
    """One contact's values to serve wrongly, as `PUT /_sandbox/garble` takes it."""

    email: str = Field(description="the contact, by emailaddress1 (any case)")
    values: dict[str, Any] = Field(description="keys to serve in place of the stored ones")


class Garbles:
    """Every garble in force; thread-safe, consulted as records are rendered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_email: dict[str, dict[str, Any]] = {}

    def set(self, garble: Garble) -> None:
        """Serve `garble.values` for that contact (added to what it garbled before)."""
        key = email_key(garble.email) or ""
        with self._lock:
            self._by_email.setdefault(key, {}).update(garble.values)

    def clear(self) -> None:
        """Serve every stored value as it is."""
        with self._lock:
            self._by_email.clear()

    def record(self, row: Row, body: dict[str, Any]) -> dict[str, Any]:
        """A rendered record, garbled if asked to be (only keys it carries, and its id)."""
        with self._lock:
            if not self._by_email:
                return body
            values = self._by_email.get(email_key(row.get("emailaddress1")) or "")
        if not values:
            return body
        for key, value in values.items():
            if key in body:
                body[key] = value
        return body
