"""Which records this engine read lately, so the pusher can skip reading them back again.

Before a write batch the pusher reads its records back, so a change made in the CRM since the
last pull (a revocation nobody has seen) is reconciled before anything overwrites it. When the
engine already knows what those records hold as of a moment ago, that read-back repeats a read
the store has just committed and costs one API call per batch. `RecentReads` remembers, per
(system, object), as of when the engine knows each record's value, committed to the store.

A record is known as of the moment before the read that returned it began (a pull, a
read-back, a webhook's read), not when its page arrived, so a page from one snapshot taken at
the start (a Bulk API 2.0 job, a query cursor) is judged by the snapshot's age. What a read
returns supersedes what was known of those records (`forget`) until its values are committed
(`note`); one whose value would not parse is never noted (its read-back decides which fields
may be written) and stays unknown until a later read returns it readable.

A record the latest pull did not return is known too, when that pull *covered* it
(`covered`): a pull from `cursor` asks for every change stamped after `cursor - lookback`, so
if the engine knew the record as of a moment at or after `cursor` and the completed pull did not
return it, the record had not changed when that pull began. A change committed after our read
carries a stamp no older than its commit minus the lookback (the bound the lookback is
configured for: late commits), so it falls inside the pull's window. This relies on the object's
change stamp moving with every change of a mapped field and the pull's query seeing every
committed change at once, which only the connector can promise: `stamps_every_change` asks it
(a Salesforce SObject's `SystemModstamp` through SOQL does; a search index that lags, such as
HubSpot's CRM search, does not). For other objects only records a read returned count.

The pusher skips the read-back of a record known as of a moment within `fresh_for` (`FRESH_FOR`,
60 s by default: about one poll interval) before the write and no earlier than the system's
latest pull began (`since`). That is the longest a change made in the CRM after our knowledge
could go unseen before a write lands, which a read-back would have narrowed to the time between
the read-back and the write; the next pull reads such a change (docs/design.md, "Push").

Memory: records are kept in groups, one per moment they are known as of. A group of an object no
pull can cover is dropped once older than `fresh_for`; a group of a coverable object is kept
until it is older than `fresh_for` and older than the cursor its latest pull started from (no
later pull can cover it). So memory is bounded by what was read in the last `fresh_for`, plus,
for coverable objects, one entry per record read since their cursor (about 120 bytes each), and
never more than `limit` records per object (`LIMIT`: 250,000, about 30 MB): past it, records
read are not remembered and their writes are read back first, as without this memory. A
backfill of a million Contacts would otherwise hold 120 MB of ids until the next pull.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["FRESH_FOR", "LIMIT", "RecentReads", "stamps_every_change"]

#: How long a record read by a pull counts as read for the pusher (docs/design.md, "Push").
FRESH_FOR = timedelta(seconds=60)
#: The most records remembered per (system, object): the bound on this memory.
LIMIT = 250_000

Coverable = Callable[[str, str], bool]  # (system, object type) -> may its pulls cover records


def stamps_every_change(connector: object, object_type: str) -> bool:
    """Whether `connector` promises that its pull of `object_type` since T returns every record
    with a change to a mapped field committed after T (plus the lookback for late commits).

    A connector promises it with a method `stamps_every_change(object_type) -> bool`; one
    without it promises nothing.
    """
    promise = getattr(connector, "stamps_every_change", None)
    return callable(promise) and promise(object_type) is True


@dataclass(eq=False, slots=True)
class _Group:
    """Records whose values the engine knows as of `known_at`."""

    known_at: datetime
    ids: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Object:
    """What is remembered of one (system, object type)."""

    coverable: bool
    groups: list[_Group] = field(default_factory=list)
    floor: datetime | None = None  # the latest cursor a covering pull started from
    # id -> when a read that began then returned it; until `note` commits it, only reads that
    # began later count (a value that would not parse is never noted, so it stays here)
    unreadable: dict[str, datetime] = field(default_factory=dict)

    def known_at(self, record_id: str) -> datetime | None:
        times = [g.known_at for g in self.groups if record_id in g.ids]
        return max(times) if times else None

    def group(self, at: datetime) -> _Group:
        for existing in self.groups:
            if existing.known_at == at:
                return existing
        made = _Group(at)
        self.groups.append(made)
        return made

    def expire(self, now: datetime, fresh_for: timedelta) -> None:
        """Drop the groups that can neither be fresh again nor be covered."""
        oldest = now - fresh_for
        self.groups = [g for g in self.groups if g.known_at >= oldest or self._coverable(g)]

    def _coverable(self, group: _Group) -> bool:
        return self.coverable and (self.floor is None or group.known_at >= self.floor)


class RecentReads:
    """As of when this engine knows each record's value, for the pusher's read-backs."""

    def __init__(
        self,
        fresh_for: timedelta = FRESH_FOR,
        coverable: Coverable | None = None,
        limit: int = LIMIT,
    ) -> None:
        """`coverable(system, object_type)`: whether that object's pulls may cover records
        they did not return (`stamps_every_change`); none by default. `limit`: the most
        records remembered per object."""
        self.fresh_for = fresh_for
        self.limit = limit
        self._coverable = coverable or (lambda _system, _object_type: False)
        self._objects: dict[tuple[str, str], _Object] = {}
        self._lock = threading.Lock()  # the daemon's pull and push jobs share one engine

    def __len__(self) -> int:
        with self._lock:
            return sum(len(set().union(*(g.ids for g in o.groups))) for o in self._objects.values())

    def note(self, system: str, object_type: str, record_ids: Iterable[str], at: datetime) -> None:
        """These records' values as of `at` are committed to the store."""
        if self.fresh_for <= timedelta(0):
            return
        with self._lock:
            remembered = self._object(system, object_type)
            unreadable = remembered.unreadable
            target = remembered.group(at)
            newer = [g for g in remembered.groups if g.known_at > at]
            older = [g for g in remembered.groups if g.known_at < at]
            held = sum(len(g.ids) for g in remembered.groups)
            for record_id in record_ids:
                if not record_id or unreadable.get(record_id, at) > at:
                    continue  # a read that began later could not parse it
                if any(record_id in g.ids for g in newer):
                    continue  # known as of a later moment already
                unreadable.pop(record_id, None)
                for group in older:
                    if record_id in group.ids:
                        group.ids.discard(record_id)
                        held -= 1
                if record_id in target.ids:
                    continue
                if held >= self.limit:
                    continue  # not remembered: its write is read back first
                target.ids.add(record_id)
                held += 1
            self._expire(at)

    def forget(
        self, system: str, object_type: str, record_ids: Iterable[str], at: datetime
    ) -> None:
        """A read that began at `at` returned these records: what was known of them before no
        longer counts, and a read that began earlier cannot make it count again. `note` then
        remembers those whose new values were committed (not those that would not parse)."""
        with self._lock:
            remembered = self._object(system, object_type)
            for record_id in record_ids:
                for group in remembered.groups:
                    group.ids.discard(record_id)
                if remembered.unreadable.get(record_id, at) <= at:
                    remembered.unreadable[record_id] = at

    def covered(self, system: str, object_type: str, cursor: datetime | None, at: datetime) -> None:
        """A pull that began at `at` from `cursor` (None: a full read) has completed.

        On a coverable object, records known as of `cursor` or later are known as of `at`:
        a change to them since would have been in the pull's window (module docstring).
        """
        with self._lock:
            remembered = self._objects.get((system, object_type))
            if remembered is None or not remembered.coverable:
                return
            floor = at if cursor is None else cursor  # a full read returned every record
            remembered.floor = floor if remembered.floor is None else max(remembered.floor, floor)
            lifted = (
                [] if cursor is None else [g for g in remembered.groups if g.known_at >= cursor]
            )
            lifted = [g for g in lifted if g.known_at < at]
            if lifted:
                target = remembered.group(at)
                for group in lifted:
                    target.ids |= group.ids
                remembered.groups = [g for g in remembered.groups if g not in lifted]
            remembered.expire(at, self.fresh_for)

    def stale(
        self,
        system: str,
        object_type: str,
        record_ids: Sequence[str],
        now: datetime,
        since: datetime | None,
    ) -> list[str]:
        """Those of `record_ids` not known as of a moment since `since` (None: never) and
        within `fresh_for` of `now`: to be read back."""
        if since is None:
            return list(record_ids)
        oldest = max(now - self.fresh_for, since)
        with self._lock:
            self._expire(now)
            remembered = self._objects.get((system, object_type))
            if remembered is None:
                return list(record_ids)
            out: list[str] = []
            for record_id in record_ids:
                known = remembered.known_at(record_id)
                if known is None or known < oldest or known > now:
                    out.append(record_id)
            return out

    def _object(self, system: str, object_type: str) -> _Object:
        """The memory of one object (the caller holds the lock)."""
        key = (system, object_type)
        remembered = self._objects.get(key)
        if remembered is None:
            remembered = self._objects[key] = _Object(self._coverable(system, object_type))
        return remembered

    def _expire(self, now: datetime) -> None:
        """Forget what can neither be fresh again nor be covered (the caller holds the lock)."""
        for remembered in self._objects.values():
            remembered.expire(now, self.fresh_for)
