"""Pulling one declarative stream: a listing, changes since a stamp, or changes since a
change-tracking link, with the cursor rules of docs/connectors.md ("The cursor").

- `order: ascending`: each page's watermark is its newest stamp (the engine commits, then moves).
- otherwise: the watermark comes once, on a last empty page, after every record: the newest stamp
  read, never later than when the pull began (a record changed meanwhile may not have been read;
  the next pull's window starts before it).
- change tracking: the link to the next changes comes on that last page too (`Page.resume`),
  with the moment the read began as the watermark.

Records a completed datetime pull already delivered with the same stamp are not delivered again
(`connectors/window.py`), so an idle cycle ingests nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from consent_sync.config.declarative import ChangeTracking, DatetimeCursor, SinceFormat, Stream
from consent_sync.config.declarative_templates import TemplateProblem, fill_path, render_value
from consent_sync.connectors.declarative.listing import (
    Request,
    answers,
    first_params,
    page_size,
)
from consent_sync.connectors.declarative.records import RecordReader
from consent_sync.connectors.declarative.transport import ResumeExpired, Transport, merge_headers
from consent_sync.connectors.protocol import PermanentError
from consent_sync.connectors.window import SeenWindow
from consent_sync.domain.records import NO_STAMP, Page, Record

log = structlog.get_logger(__name__)

#: How far before its first request a tracked read counts as begun (see `_changes`).
_STARTED_MARGIN = timedelta(seconds=5)


def format_since(since: datetime, style: SinceFormat) -> str:
    """`since` as a query value: whole seconds, UTC (the lookback covers the cut fraction)."""
    moment = since.astimezone(UTC).replace(microsecond=0)
    if style == "iso8601_z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "epoch_ms":
        return str(int(moment.timestamp()) * 1000)
    if style == "epoch_s":
        return str(int(moment.timestamp()))
    return moment.isoformat()


class StreamPuller:
    """Pulls one stream of one connector."""

    def __init__(
        self,
        transport: Transport,
        object_type: str,
        stream: Stream,
        reader: RecordReader,
        vars: Mapping[str, str],
        *,
        lookback: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.transport = transport
        self.object_type = object_type
        self.stream = stream
        self.reader = reader
        self.vars = dict(vars)
        self.clock = clock
        self.window = SeenWindow(lookback)

    # -- entry points ------------------------------------------------------------------------

    def pull(self, since: datetime | None) -> Iterator[Page]:
        """Records changed at or after `since` (all of them when None), page by page."""
        incremental = self.stream.incremental
        if isinstance(incremental, ChangeTracking):
            yield from self._tracked(incremental, None)
            return
        started = self.clock()
        if since is None or incremental is None:
            # The cursor lands on the newest stamp read, not on `started`: the memory is cut
            # to the window behind it once the pull finishes.
            self.window.begin()
            pages = self._listed(self._first(None), None, started, whole=True)
            yield from self.window.track(pages, None)
            return
        known = self.window.covers(since)
        self.window.begin()
        pages = self._listed(
            self._first(since), self.window if known else None, started, whole=False
        )
        yield from self.window.track(pages, since)

    def resume(self, since: datetime | None, token: str) -> Iterator[Page]:
        """Changes since the link a change-tracking pull left (anything else: a plain pull)."""
        incremental = self.stream.incremental
        if not isinstance(incremental, ChangeTracking):
            yield from self.pull(since)
            return
        yield from self._tracked(incremental, token)

    # -- requests ----------------------------------------------------------------------------

    def context(self, **extra: Any) -> dict[str, Any]:
        """What the stream's templates see."""
        return {
            "vars": self.vars,
            "selected": self.reader.selected(),
            "page_size": page_size(self.stream.paginator),
            **extra,
        }

    def _first(self, since: datetime | None) -> Request:
        try:
            return self._first_request(since)
        except TemplateProblem as exc:
            raise PermanentError(
                f"a listing template failed: {exc}",
                system=self.transport.system,
                object_type=self.object_type,
            ) from exc

    def _first_request(self, since: datetime | None) -> Request:
        stream = self.stream
        params = {**render_value(stream.params, self.context()), **first_params(stream.paginator)}
        headers = dict(stream.headers)
        incremental = stream.incremental
        if since is not None and isinstance(incremental, DatetimeCursor):
            value = format_since(since, incremental.format)
            params.update(render_value(incremental.params, self.context(since=value)))
        elif isinstance(incremental, ChangeTracking):
            params.update(render_value(incremental.params, self.context()))
            headers = merge_headers(headers, incremental.headers, join=True)
        return Request(fill_path(stream.path, self.vars), params, headers)

    # -- listings ----------------------------------------------------------------------------

    def _records(self, first: Request) -> Iterator[tuple[Any, list[Record]]]:
        stream = self.stream
        for body, items in answers(
            self.transport, stream.paginator, stream.records, first, object_type=self.object_type
        ):
            now = self.clock()
            yield body, [self.reader.record(item, now) for item in items]

    def _listed(
        self, first: Request, known: SeenWindow | None, started: datetime, *, whole: bool
    ) -> Iterator[Page]:
        ascending = self.stream.order == "ascending"
        newest: datetime | None = None
        for _, records in self._records(first):
            stamp = _newest(records)
            fresh = known.unseen(records) if known is not None else list(records)
            if ascending:
                yield Page(fresh, stamp)
                continue
            newest = stamp if newest is None or (stamp is not None and stamp > newest) else newest
            yield Page(fresh, None)
        if not ascending:
            yield Page([], _final(newest, started, whole=whole))

    def _tracked(self, spec: ChangeTracking, token: str | None) -> Iterator[Page]:
        first = self._first(None)
        fingerprint = _fingerprint(first)
        link = None
        if token is not None:
            stored, _, link = token.partition("|")
            if stored != fingerprint or not link:
                log.info(
                    "the stored change link was made for another query; reading everything",
                    system=self.transport.system,
                    object=self.object_type,
                )
                link = None
        if link:
            try:
                delta = Request(link, {}, first.headers, "delta")
                yield from self._changes(spec, delta, fingerprint)
                return
            except ResumeExpired:
                log.warning(
                    "the change link expired; reading everything again",
                    system=self.transport.system,
                    object=self.object_type,
                )
        yield from self._changes(spec, first, fingerprint)

    def _changes(self, spec: ChangeTracking, first: Request, fingerprint: str) -> Iterator[Page]:
        started = self.clock()
        last: Any = None
        for body, records in self._records(first):
            last = body
            yield Page(records, None)
        link = spec.delta_link.get(last)
        resume = f"{fingerprint}|{link}" if isinstance(link, str) and link else None
        if resume is None:
            log.warning(
                "the last page held no change link; the next pull reads everything",
                system=self.transport.system,
                object=self.object_type,
            )
        # The cursor of a tracked stream is when this read began (a little before: the engine
        # notes its reads as of a moment just before it asked for this pull): the link returns
        # every change made after it, which is what the engine's record memory relies on
        # (`stamps_every_change`). An earlier cursor only ever costs a read-back.
        yield Page([], started - _STARTED_MARGIN, resume)


def _newest(records: list[Record]) -> datetime | None:
    stamps = [r.modified_at for r in records if r.readable and not r.deleted]
    stamps = [s for s in stamps if s != NO_STAMP]
    return max(stamps) if stamps else None


def _final(newest: datetime | None, started: datetime, *, whole: bool) -> datetime | None:
    """Where the cursor may go once every page is committed: the newest stamp read, never past
    the pull's start (changes made meanwhile may be unread); a whole read of nothing: the start."""
    if newest is None:
        return started if whole else None
    return min(newest, started)


def _fingerprint(first: Request) -> str:
    """What a change link was made for: the listing's path and query."""
    text = json.dumps([first.path, sorted((str(k), str(v)) for k, v in first.params.items())])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
