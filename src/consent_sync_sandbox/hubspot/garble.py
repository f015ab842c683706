"""Answers a careless CRM gives: stored values served as something they cannot be.

`PUT /_sandbox/garble` names a contact by email and either one subscription, whose v4 status
entries then carry the given keys instead (`{"timestamp": "2026-13-45"}`, `{"status": "MAYBE"}`),
or no subscription, whose CRM object then does (`{"lastmodifieddate": "soon"}` replaces a
property, `{"id": "x"}` a key of the object itself). What is stored never changes, and searches
still sort and filter on the true values; `DELETE /_sandbox/garble` serves the truth again.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, Field

#: Keys of a CRM object itself; any other key garbles one of its properties.
_OBJECT_KEYS = frozenset({"id", "createdAt", "updatedAt", "archived"})


class Garble(BaseModel):
    """One contact's values to serve wrongly, as `PUT /_sandbox/garble` takes it."""

    email: str = Field(description="the contact, by email (any case)")
    subscription_id: int | None = Field(
        None, description="garble this subscription's v4 status entries; none: the CRM object"
    )
    values: dict[str, Any] = Field(description="keys to serve in place of the stored ones")


class Garbles:
    """Every garble in force; thread-safe, consulted as answers are built."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[tuple[str, int], dict[str, Any]] = {}
        self._objects: dict[str, dict[str, Any]] = {}

    def set(self, garble: Garble) -> None:
        """Serve `garble.values` for that contact (added to what it garbled before)."""
        email = garble.email.lower()
        with self._lock:
            if garble.subscription_id is None:
                self._objects.setdefault(email, {}).update(garble.values)
            else:
                key = (email, garble.subscription_id)
                self._statuses.setdefault(key, {}).update(garble.values)

    def clear(self) -> None:
        """Serve every stored value as it is."""
        with self._lock:
            self._statuses.clear()
            self._objects.clear()

    def status(self, email: str, subscription_id: int, entry: dict[str, Any]) -> dict[str, Any]:
        """A v4 status entry of `email` for `subscription_id`, garbled if asked to be."""
        with self._lock:
            values = self._statuses.get((email.lower(), subscription_id))
        return {**entry, **values} if values else entry

    def crm_object(self, email: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """A contact's CRM object, garbled if asked to be (only properties it carries)."""
        with self._lock:
            values = self._objects.get(email.lower()) if email else None
        if not values:
            return body
        properties = dict(body.get("properties") or {})
        for key, value in values.items():
            if key in _OBJECT_KEYS:
                body[key] = value
            elif key in properties:
                properties[key] = value
        body["properties"] = properties
        return body
