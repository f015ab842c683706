"""Which records this engine read lately, so the pusher can skip reading them back again.

Before a write batch the pusher reads its records back, so a change made in the CRM since the
last pull (a revocation nobody has seen) is reconciled before anything overwrites it. When a pull
read those very records a moment ago, that read-back repeats a read the store has just committed
and costs one API call per batch. `RecentReads` remembers, per (system, object, record id), when
the engine last read a record and committed what it held. A record counts as read only if that
read began after the system's latest pull started (`since`), so the pull that preceded the
push returned it: a record that pull did not return may have changed in a way its change stamp
does not show (what the read-back is for), however recently an earlier pull read it. And only
within `fresh_for` (`FRESH_FOR`, 60 s by default: about one poll interval) of the write: that is
the longest a change made in the CRM after our read could go unseen before a write lands, which
a read-back would have narrowed to the time between the read-back and the write. Records never
read by this engine, read before that pull, or longer ago, are read back as before.

"When" is taken conservatively: the moment before the pull (or read) that returned the record
started, not when its page arrived, so a connector whose pages come from one snapshot taken at
the start (a bulk query job) is still judged by the snapshot's age. Records holding a value that
would not parse are never remembered: their read-back decides which fields may be written.
Entries older than `fresh_for` are dropped as new ones arrive, so memory stays bounded by what
was read in the last `fresh_for`, not by how many records exist.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

__all__ = ["FRESH_FOR", "RecentReads"]

#: How long a record read by a pull counts as read for the pusher (docs/design.md, "Push").
FRESH_FOR = timedelta(seconds=60)

_Key = tuple[str, str, str]  # (system, object type, record id)


class RecentReads:
    """When each record was last read and committed by this engine, for `fresh_for`."""

    def __init__(self, fresh_for: timedelta = FRESH_FOR) -> None:
        self.fresh_for = fresh_for
        self._read_at: dict[_Key, datetime] = {}
        self._order: deque[tuple[datetime, list[_Key]]] = deque()
        self._lock = threading.Lock()  # the daemon's pull and push jobs share one engine

    def __len__(self) -> int:
        return len(self._read_at)

    def note(self, system: str, object_type: str, record_ids: Iterable[str], at: datetime) -> None:
        """These records' values as of `at` are committed to the store."""
        if self.fresh_for <= timedelta(0):
            return
        keys = [(system, object_type, i) for i in record_ids if i]
        with self._lock:
            for key in keys:
                if self._read_at.get(key, at) <= at:
                    self._read_at[key] = at
            if keys:
                self._order.append((at, keys))
            self._expire(at)

    def stale(
        self,
        system: str,
        object_type: str,
        record_ids: Sequence[str],
        now: datetime,
        since: datetime | None,
    ) -> list[str]:
        """Those of `record_ids` not read since `since` (None: never) and within `fresh_for` of
        `now`: to be read back."""
        if since is None:
            return list(record_ids)
        oldest = max(now - self.fresh_for, since)
        out: list[str] = []
        with self._lock:
            self._expire(now)
            for record_id in record_ids:
                read_at = self._read_at.get((system, object_type, record_id))
                if read_at is None or read_at < oldest or read_at > now:
                    out.append(record_id)
        return out

    def _expire(self, now: datetime) -> None:
        """Forget reads older than `fresh_for` (the caller holds the lock)."""
        oldest = now - self.fresh_for
        while self._order and self._order[0][0] < oldest:
            at, keys = self._order.popleft()
            for key in keys:
                if self._read_at.get(key) == at:
                    del self._read_at[key]
