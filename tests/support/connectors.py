"""A connector that does nothing, for tests that drive the engine or the scheduler with stand-ins.

Subclasses override only what their scenario needs (a read that returns records, a write that
fails); the rest of the protocol answers as an empty CRM would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from consent_sync.domain.records import FieldInfo, FieldWrite, Page, Quota, Record, WriteResult


class StandInConnector:
    """An empty CRM named `name`: nothing to pull or read, every write accepted."""

    name = "hubspot"

    @property
    def api_calls(self) -> int:
        return 0

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        return iter(())

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        return []

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        return [WriteResult(w.record_id, ok=True) for w in writes]

    def describe(self, object_type: str) -> list[FieldInfo]:
        return []

    def quota(self) -> Quota:
        return Quota()

    def close(self) -> None:
        pass
