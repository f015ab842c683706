"""What each record of a subject holds of its own, as the rule's least-permissive clause reads it
(docs/design.md, "Least permissive within a system")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import overload

from consent_sync.domain.model import LinkKey, Observation, Side, Status
from consent_sync.store import snapshot
from consent_sync.store.types import utc


class Held(Sequence[Side]):
    """Per active link of the subject, the value it holds once `group` is read, unless that is
    a value consent-sync wrote there (its shadow's `last_written`) or says nothing (`unknown`).

    A link observed in `group` holds its last observation, as of its decision time; any other
    holds its shadow's `last_seen`, as of when that was read. Worked out on first use: the rule
    reads it only for the few observations that may disagree with another record.
    """

    __slots__ = ("_group", "_loaded", "_purpose", "_sides", "_subject_id")

    def __init__(
        self,
        loaded: snapshot.Snapshot,
        subject_id: uuid.UUID,
        purpose: str,
        group: Sequence[tuple[Observation, int | None]],
    ) -> None:
        self._loaded, self._subject_id, self._purpose, self._group = (
            loaded,
            subject_id,
            purpose,
            group,
        )
        self._sides: tuple[Side, ...] | None = None

    @overload
    def __getitem__(self, index: int) -> Side: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Side]: ...
    def __getitem__(self, index: int | slice) -> Side | Sequence[Side]:
        return self.sides()[index]

    def __len__(self) -> int:
        return len(self.sides())

    def __iter__(self) -> Iterator[Side]:
        return iter(self.sides())

    def sides(self) -> tuple[Side, ...]:
        if self._sides is None:
            self._sides = tuple(self._read())
        return self._sides

    def _read(self) -> Iterator[Side]:
        observed = {link_id: o for o, link_id in self._group if link_id is not None}
        for link in self._loaded.links.get(self._subject_id, ()):
            if not link.active:
                continue
            row = self._loaded.shadows.get((link.id, self._purpose))
            o = observed.get(link.id)
            when: datetime | None
            if o is not None:
                status, when = o.status, o.decided_at
            elif row is not None and row.last_seen is not None:
                status, when = Status(row.last_seen), row.last_seen_at
            else:
                continue
            if status is Status.UNKNOWN or (row is not None and row.last_written == status.value):
                continue
            key = LinkKey(link.system, link.object_type, link.record_id)
            yield Side(link.system, status, utc(when) if when else None, key)
