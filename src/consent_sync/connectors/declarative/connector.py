"""A connector run from a declarative spec (docs/connectors.md): the protocol of
`connectors/protocol.py` over plain HTTP/JSON, one stream per object type."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from consent_sync.config.connector_settings import DeclarativeConnector as DeclarativeConfig
from consent_sync.config.declarative import ChangeTracking, Stream
from consent_sync.config.declarative_templates import TemplateProblem, fill_path, render_value
from consent_sync.connectors.declarative.describe import describe_stream
from consent_sync.connectors.declarative.listing import Request, answers
from consent_sync.connectors.declarative.pull import StreamPuller
from consent_sync.connectors.declarative.records import RecordReader
from consent_sync.connectors.declarative.transport import Endpoint, RecordGone, Transport
from consent_sync.connectors.declarative.writes import Writer
from consent_sync.connectors.protocol import PermanentError
from consent_sync.connectors.retry import RetryPolicy
from consent_sync.domain.records import FieldInfo, FieldWrite, Page, Quota, Record, WriteResult


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class DeclarativeSettings:
    """A validated spec and what the mapping reads of each stream."""

    config: DeclarativeConfig
    #: Per object type, the fields the mapping pulls (match keys included).
    fields: Mapping[str, Sequence[str]]
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __repr__(self) -> str:
        return f"DeclarativeSettings(name={self.config.name!r})"


class DeclarativeConnector:
    """Pulls, reads, writes and describes the streams of one declarative spec."""

    def __init__(
        self, settings: DeclarativeSettings, *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        config = settings.config
        self.name = config.name
        self.settings = settings
        self.vars = dict(config.vars)
        requester = config.requester
        self.transport = Transport(
            Endpoint(
                config.name,
                requester.base_url,
                dict(requester.headers),
                requester.ca_file,
                config.limits.timeout_seconds,
                config.limits.requests_per_second,
                tuple(requester.errors),
                requester.quota,
            ),
            config.auth,
            settings.retry,
        )
        lookback = timedelta(seconds=config.limits.lookback_seconds)
        self._readers = {
            name: RecordReader(name, stream, settings.fields.get(name, ()))
            for name, stream in config.streams.items()
        }
        self._pullers = {
            name: StreamPuller(
                self.transport,
                name,
                stream,
                self._readers[name],
                self.vars,
                lookback=lookback,
                clock=clock,
            )
            for name, stream in config.streams.items()
        }
        self._writers = {
            name: Writer(self.transport, name, stream, self.vars)
            for name, stream in config.streams.items()
            if stream.write is not None
        }
        self._clock = clock

    @property
    def api_calls(self) -> int:
        """HTTP requests sent to the system so far, retries included (token requests not)."""
        return self.transport.api_calls

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        """Records changed at or after `since` (all when None), page by page."""
        return self._pullers[self._check(object_type)].pull(since)

    def pull_resuming(
        self, object_type: str, since: datetime | None, resume: str
    ) -> Iterator[Page]:
        """Changes since the change link the last pull's last page carried."""
        return self._pullers[self._check(object_type)].resume(since, resume)

    def stamps_every_change(self, object_type: str) -> bool:
        """Whether a completed pull returns every record changed since its cursor: a change
        link does (sync/recent.py); a listing by stamp promises nothing."""
        stream = self.settings.config.streams.get(object_type)
        return stream is not None and isinstance(stream.incremental, ChangeTracking)

    def write_batch_size(self) -> int | None:
        """How many due writes the engine should hand one `write` call: the smallest batch any
        of this system's batch-writing streams takes; None when every write is one request."""
        sizes = [
            stream.write.max_items
            for stream in self.settings.config.streams.values()
            if stream.write is not None
            and not ("{id}" in stream.write.path and stream.write.format == "json")
        ]
        return min(sizes) if sizes else None

    def read(self, object_type: str, record_ids: Sequence[str]) -> list[Record]:
        """The current state of records by id; missing ones are left out."""
        stream = self._stream(object_type)
        spec = stream.read
        if spec is None:
            raise PermanentError(f"{object_type} has no read by id", system=self.name)
        reader = self._readers[object_type]
        asked = list(dict.fromkeys(record_ids))
        found: list[Record] = []
        if "{id}" in spec.path:
            for record_id in asked:
                try:
                    answer = self.transport.request(
                        "GET",
                        fill_path(spec.path, {**self.vars, "id": record_id}),
                        params=self._render(object_type, spec.params, [record_id]),
                        headers=spec.headers,
                        purpose="record",
                        listing=spec.records,
                        object_type=object_type,
                        record_id=record_id,
                    )
                except RecordGone:
                    continue
                items = spec.records.get(answer.body) if spec.records else [answer.body]
                found += [reader.record(item, self._clock()) for item in items]
        else:
            records_at = spec.records or stream.records
            for start in range(0, len(asked), spec.max_ids):
                ids = asked[start : start + spec.max_ids]
                first = Request(
                    fill_path(spec.path, self.vars),
                    self._render(object_type, spec.params, ids),
                    dict(spec.headers),
                )
                for _, items in answers(
                    self.transport, stream.paginator, records_at, first, object_type=object_type
                ):
                    found += [reader.record(item, self._clock()) for item in items]
        wanted = set(asked)
        return [r for r in found if not r.readable or r.record_id in wanted]

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        """Write in batches as the spec allows; one result per write, in order."""
        writer = self._writers.get(self._check(object_type))
        if writer is None:
            raise PermanentError(f"{object_type} has no write", system=self.name)
        return writer.write(writes)

    def describe(self, object_type: str) -> list[FieldInfo]:
        """The stream's fields, types and writability (for `validate --live`)."""
        stream = self._stream(object_type)
        return describe_stream(
            self.transport, object_type, stream, self._readers[object_type], self.vars
        )

    def quota(self) -> Quota:
        """API quota as the spec's quota headers last reported it."""
        return self.transport.quota

    def close(self) -> None:
        """Close the HTTP client."""
        self.transport.close()

    # -- helpers ----------------------------------------------------------------------------

    def _check(self, object_type: str) -> str:
        self._stream(object_type)
        return object_type

    def _stream(self, object_type: str) -> Stream:
        stream = self.settings.config.streams.get(object_type)
        if stream is None:
            raise PermanentError(f"unsupported object {object_type!r}", system=self.name)
        return stream

    def _render(
        self, object_type: str, params: Mapping[str, object], ids: list[str]
    ) -> dict[str, object]:
        selected = self._readers[object_type].selected()
        context = {"vars": self.vars, "ids": ids, "selected": selected}
        try:
            rendered = render_value(dict(params), context)
        except TemplateProblem as exc:
            raise PermanentError(f"a read template failed: {exc}", system=self.name) from exc
        return rendered if isinstance(rendered, dict) else {}
