"""Targeted reads: the records a webhook named, re-read through the connector and ingested.

A webhook says which records changed, not what they hold now: the values it carries are not
trusted, so the daemon reads each named record and runs it through mapping and reconciliation
like a pulled one. A record named by a deletion that the read no longer finds has its link ended.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from consent_sync.domain.model import LinkKey
from consent_sync.sync.engine import CycleReport, SyncEngine

#: (object type, record id) -> whether a deletion named it.
Named = dict[tuple[str, str], bool]


class NamedReads:
    """Record ids waiting for a targeted read, per system; ids named twice are read once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Named] = {}

    def add(self, system: str, named: Mapping[tuple[str, str], bool]) -> None:
        """Queue records for a read; a deletion among the mentions of a record is kept."""
        with self._lock:
            pending = self._pending.setdefault(system, {})
            for key, deleted in named.items():
                pending[key] = pending.get(key, False) or deleted

    def take(self, system: str) -> Named:
        """Every record queued for `system`, removed from the queue."""
        with self._lock:
            return self._pending.pop(system, {})


def read_named(engine: SyncEngine, system: str, named: Named, report: CycleReport) -> None:
    """Read the named records of `system`, ingest what exists, end links of deleted ones."""
    connector = engine.connectors[system]
    objects = engine.config.mappings[system].objects
    by_object: dict[str, dict[str, bool]] = {}
    for (object_type, record_id), deleted in named.items():
        if object_type in objects:
            by_object.setdefault(object_type, {})[record_id] = deleted
    for object_type, ids in by_object.items():
        records = connector.read(object_type, list(ids))
        engine.ingest(system, objects[object_type], records, report)
        found = {record.record_id for record in records}
        gone = [i for i, deleted in ids.items() if deleted and i not in found]
        for record_id in gone:
            if engine.store.end_link(LinkKey(system, object_type, record_id), engine.clock()):
                report.links_ended += 1
