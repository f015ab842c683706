"""Per-property value history, served as `propertiesWithHistory` (newest first).

Seeded values have no rows of their own: the first change of a property records the value it
replaces (timestamped at the contact's creation, source IMPORT), and reads synthesize that same
entry while nothing has changed — so history is complete without costing seeding anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consent_sync_sandbox.hubspot.props import APP_ID, iso_ms

_SCHEMA = """
CREATE TABLE history (
    contact_id INTEGER NOT NULL, name TEXT NOT NULL, value TEXT, ts_ms INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX history_key ON history (contact_id, name, ts_ms);
"""
#: The source HubSpot shows for values that arrived before any recorded change.
BASELINE_SOURCE = "IMPORT"
_UI_USER_ID = 1000001


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One value a property held from `ts_ms` on."""

    value: str | None
    ts_ms: int
    source: str

    def to_json(self) -> dict[str, Any]:
        """HubSpot's ValueWithTimestamp."""
        body: dict[str, Any] = {
            "value": self.value or "",
            "timestamp": iso_ms(self.ts_ms),
            "sourceType": self.source,
        }
        if self.source == "CRM_UI":
            body["sourceId"] = f"userId:{_UI_USER_ID}"
            body["updatedByUserId"] = _UI_USER_ID
        elif self.source == "API":
            body["sourceId"] = str(APP_ID)
        return body


class PropertyHistory:
    """History rows beside the contacts table; the store calls it with its lock held."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        db.executescript(_SCHEMA)

    def record(
        self,
        contact_id: int,
        name: str,
        before: str | None,
        after: str | None,
        *,
        ts_ms: int,
        source: str,
        baseline_ms: int,
    ) -> None:
        """Append a change; the first one also keeps the value it replaced as the baseline."""
        known = self._db.execute(
            "SELECT 1 FROM history WHERE contact_id = ? AND name = ? LIMIT 1", (contact_id, name)
        ).fetchone()
        rows: list[tuple[str | None, int, str]] = []
        if not known and before is not None:
            rows.append((before, baseline_ms, BASELINE_SOURCE))
        rows.append((after, ts_ms, source))
        self._db.executemany(
            "INSERT INTO history VALUES (?, ?, ?, ?, ?)",
            [(contact_id, name, value, stamp, origin) for value, stamp, origin in rows],
        )

    def entries(
        self, contact_ids: Sequence[int], names: Sequence[str]
    ) -> dict[tuple[int, str], list[HistoryEntry]]:
        """Recorded entries per (contact, property), newest first; unchanged ones are absent."""
        if not contact_ids or not names:
            return {}
        id_marks = ",".join("?" * len(contact_ids))
        name_marks = ",".join("?" * len(names))
        rows = self._db.execute(
            "SELECT contact_id, name, value, ts_ms, source FROM history "  # noqa: S608
            f"WHERE contact_id IN ({id_marks}) AND name IN ({name_marks}) "
            "ORDER BY ts_ms DESC, rowid DESC",
            (*contact_ids, *names),
        ).fetchall()
        result: dict[tuple[int, str], list[HistoryEntry]] = {}
        for contact_id, name, value, ts_ms, source in rows:
            result.setdefault((contact_id, name), []).append(HistoryEntry(value, ts_ms, source))
        return result
