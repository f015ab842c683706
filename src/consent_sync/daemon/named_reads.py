"""The records webhooks named, waiting for the daemon's read job (`SyncEngine.read_named`).

The HTTP thread queues them and answers at once; the system's read job takes them under its
lease. Ids named again while they wait are read once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

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
