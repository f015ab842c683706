"""The records webhooks named, waiting for the daemon's read job (`SyncEngine.read_named`).

The HTTP thread queues them in the store and answers; the system's read job (or a pull of the
system, between its pages) takes them under its lease and unqueues them once read. The queue is
in the store, not in memory, so the ids a webhook queued survive a restart and any replica's read
job can take them; a redelivered event queues nothing (see `consent_sync.store.webhooks`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from consent_sync.store import PendingReads, Store, WebhookNotice

#: Records one read job takes at a time; the job goes round until the queue is empty.
READ_BATCH = 500


class NamedReads:
    """Record ids waiting for a targeted read, per system, kept in the store."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._store = store
        self._clock = clock

    def add(self, system: str, notices: Sequence[WebhookNotice]) -> bool:
        """Queue the records new events name; whether anything was queued."""
        return bool(self._store.webhooks.accept(system, notices, self._clock()))

    def waiting(self, system: str) -> bool:
        """Whether any record is queued for `system`."""
        return bool(self._store.webhooks.pending(system, 1).named)

    def take(self, system: str) -> PendingReads:
        """The records queued longest for `system` (they stay queued until `done`)."""
        return self._store.webhooks.pending(system, READ_BATCH)

    def done(self, taken: PendingReads) -> None:
        """`taken` was read: unqueue it (a record named again meanwhile stays queued)."""
        self._store.webhooks.read_done(taken)
