"""What a connector already read near its cursor, so an idle pull re-fetches none of it.

The engine pulls from `cursor - lookback` to catch records committed late with earlier stamps
(docs/design.md, "The sync cycle"). Re-reading that window every cycle costs calls in proportion
to how many records changed in the last few minutes, not to what changed since the last cycle.
A `SeenWindow` remembers, per object, the id and stamp of every record a completed pull handed
over whose stamp is inside the window, and answers two questions:

- which records of a fresh answer are new or changed (`unseen`): an id it holds with the same
  stamp is a record already delivered, unchanged;
- whether one page of the window, newest first, plus the window's total count accounts for
  every record in it (`accounts_for`): then nothing outside that page is unseen and the pull is
  one call. A count that does not add up (a late commit, a purge) falls back to reading the
  whole window.

A record is remembered only once its page is surely committed: the engine reads at most one
page ahead of its commits (`sync/prefetch.py`), so when it asks for the page after the next one,
this one is committed (`track`; a pull ends with an empty page for that). A pull abandoned by a
crash or an error leaves what it read unremembered, and the next pull reads it again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from consent_sync.domain.records import Page, Record

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


@dataclass
class SeenWindow:
    """Ids and stamps a completed pull delivered, complete for stamps at or after `covered_from`.

    `horizon` is how far behind the cursor the engine reads (its lookback); `limit` bounds the
    memory: past it the window stops claiming completeness and pulls read the window as before.
    """

    horizon: timedelta = timedelta(seconds=300)
    limit: int = 200_000
    _stamps: dict[str, datetime] = field(default_factory=dict)
    _covered_from: datetime | None = None
    _floor: datetime = _EPOCH  # nothing older is kept
    _overflowed: bool = False

    def covers(self, since: datetime) -> bool:
        """Whether every record stamped at or after `since` that exists was delivered (or is
        new since): the memory is valid and reaches back that far."""
        return self._covered_from is not None and self._covered_from <= since

    def begin(self, cursor: datetime | None = None) -> None:
        """A pull starts: the memory is not complete until it `finish`es.

        `cursor`: where this pull will leave the cursor, when known up front (a listing's start
        time): stamps too old for any later window need not be kept meanwhile.
        """
        self._covered_from = None
        self._overflowed = False
        if cursor is not None:
            self._raise_floor(self._cursor_floor(cursor))

    def track(self, pages: Iterable[Page], since: datetime | None) -> Iterator[Page]:
        """The pages, each remembered once the one after it was handed over and the caller asks
        for more (it has committed the first by then); an empty page closes a pull whose last
        page must be committed too, and then the memory is complete from `since`."""
        pending: Page | None = None
        cursor: datetime | None = None
        for page in pages:
            yield page
            if pending is not None:
                self.remember(pending.records)
            pending = page
            if page.watermark is not None:
                cursor = page.watermark if cursor is None else max(cursor, page.watermark)
        if pending is not None and (pending.records or pending.watermark is not None):
            yield Page([], None)
        if pending is not None:
            self.remember(pending.records)
        self.finish(since, cursor)

    def remember(self, records: Iterable[Record]) -> None:
        """Records the engine has committed (their page was followed by a request for more)."""
        for record in records:
            if record.readable and record.record_id and record.modified_at >= self._floor:
                self._stamps[record.record_id] = record.modified_at
        if len(self._stamps) > self.limit:
            newest = max(self._stamps.values())
            self._raise_floor(newest - self.horizon)
            if len(self._stamps) > self.limit:
                self._overflowed = True
                self._stamps.clear()

    def finish(self, since: datetime | None, cursor: datetime | None) -> None:
        """The pull read everything from `since` (None: everything) and the engine's cursor is
        now at least `cursor`: the memory is complete from `since`, or from where it was cut."""
        if self._overflowed:
            self._covered_from = None
            return
        if cursor is not None:
            self._raise_floor(self._cursor_floor(cursor))
        if since is not None:
            self._raise_floor(since)
        self._covered_from = self._floor

    def seen(self, record_id: str, stamp: object) -> bool:
        """Whether this record was delivered with this very stamp (so it has not changed)."""
        return bool(record_id) and self._stamps.get(record_id) == stamp

    def unseen(self, records: Sequence[Record]) -> list[Record]:
        """The records that are new or changed since they were delivered (broken ones always)."""
        return [r for r in records if not (r.readable and self.seen(r.record_id, r.modified_at))]

    def accounts_for(self, since: datetime, newest: Collection[str], total: int) -> bool:
        """Whether `newest` (the ids of the window's newest records, one page) and the records
        remembered in the window but not in it make up the window's `total`: then every record
        of the window outside that page is one already delivered, unchanged."""
        if len(newest) >= total:
            return len(newest) == total
        elsewhere = sum(1 for i, s in self._stamps.items() if s >= since and i not in newest)
        return elsewhere == total - len(newest)

    def _cursor_floor(self, cursor: datetime) -> datetime:
        # The engine's next `since` is `cursor - horizon`; a CRM that compares to the second
        # reads from the start of that second: keep it whole, and a second more.
        return (cursor - self.horizon).replace(microsecond=0) - _SECOND

    def _raise_floor(self, floor: datetime) -> None:
        if floor <= self._floor:
            return
        self._floor = floor
        self._stamps = {i: s for i, s in self._stamps.items() if s >= floor}

    def __len__(self) -> int:
        return len(self._stamps)
