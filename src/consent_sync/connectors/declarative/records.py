"""A JSON item of a declarative stream as a `Record`: its id, stamp, deletion marker, mapped
fields with their own times and evidence (docs/connectors.md, "fields"). A value that will not
parse is that record's problem (`Record.unreadable`), never the page's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consent_sync.config.declarative import FieldSpec, Stream
from consent_sync.config.declarative_paths import MISSING, RecordPath, parse_path
from consent_sync.domain.mapping import RawValue
from consent_sync.domain.records import NO_STAMP, Record, Unreadable

_EPOCH_MS = 100_000_000_000  # a larger epoch number counts milliseconds


def parse_stamp(value: object) -> datetime | None:
    """An ISO 8601 text or an epoch number (seconds, or milliseconds) as an aware datetime."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Field:
    """One mapped field: where its value, its own time and its evidence sit."""

    name: str
    path: RecordPath
    time: RecordPath | None = None
    time_when: tuple[RawValue, ...] | None = None
    evidence: Mapping[str, RecordPath] | None = None

    @classmethod
    def of(cls, name: str, spec: FieldSpec | None) -> _Field:
        if spec is None:
            return cls(name, parse_path(name))
        when = tuple(spec.time.when) if spec.time and spec.time.when is not None else None
        return cls(
            name,
            spec.path or parse_path(name),
            spec.time.path if spec.time else None,
            when,
            spec.evidence or None,
        )

    def times(self, value: object) -> bool:
        """Whether the field's own time applies while it holds `value`."""
        if self.time is None:
            return False
        if self.time_when is None:
            return True
        return any(type(w) is type(value) and w == value for w in self.time_when)


class RecordReader:
    """Reads the items of one stream into records of `object_type`."""

    def __init__(self, object_type: str, stream: Stream, names: Sequence[str]) -> None:
        self.object_type = object_type
        self.stream = stream
        wanted = list(dict.fromkeys([*names, *stream.fields]))
        self.fields = [_Field.of(name, stream.fields.get(name)) for name in wanted]

    def selected(self) -> list[str]:
        """The top-level keys a read needs (for `$select` or `fields=` params)."""
        paths = [self.stream.id, *(f.path for f in self.fields)]
        if self.stream.modified is not None:
            paths.append(self.stream.modified)
        for f in self.fields:
            paths += [p for p in (f.time, *(f.evidence or {}).values()) if p is not None]
        heads = (p.head for p in paths)
        return list(dict.fromkeys(h for h in heads if h and not h.startswith("@")))

    def record(self, item: Any, now: datetime) -> Record:
        """One item as a record (`now` stands for the stamp of a stream without one)."""
        if not isinstance(item, Mapping):
            return Record.broken(
                self.object_type, "", Unreadable.of("record", item, "not a JSON object")
            )
        deleted = self.stream.deleted
        if deleted is not None and _marks(deleted.path.get(item), deleted.matches):
            return self._deletion(item, deleted.id or self.stream.id)
        raw_id = self.stream.id.get(item)
        if not _is_id(raw_id):
            return Record.broken(
                self.object_type, "", Unreadable.of("id", raw_id, "a record id (text or number)")
            )
        record_id = str(raw_id)
        modified = now
        if self.stream.modified is not None:
            raw_stamp = self.stream.modified.get(item)
            stamp = parse_stamp(raw_stamp)
            if stamp is None:
                problem = Unreadable.of("modified", raw_stamp, "an ISO 8601 timestamp")
                return Record.broken(self.object_type, record_id, problem)
            modified = stamp
        return self._fields(item, record_id, modified)

    def _fields(self, item: Mapping[str, Any], record_id: str, modified: datetime) -> Record:
        fields: dict[str, Any] = {}
        times: dict[str, datetime] = {}
        evidence: dict[str, dict[str, str]] = {}
        unreadable: dict[str, Unreadable] = {}
        for spec in self.fields:
            value = spec.path.get(item)
            if value is MISSING:
                continue
            if spec.time is not None and spec.times(value):
                raw_time = spec.time.get(item)
                if raw_time not in (MISSING, None, ""):
                    stamp = parse_stamp(raw_time)
                    if stamp is None:
                        unreadable[spec.name] = Unreadable.of(
                            "time", raw_time, "an ISO 8601 timestamp"
                        )
                        continue
                    times[spec.name] = stamp
            fields[spec.name] = value
            if spec.evidence:
                kept = {
                    key: str(found)
                    for key, path in spec.evidence.items()
                    if (found := path.get(item)) not in (MISSING, None, "")
                    and not isinstance(found, Mapping | list)
                }
                if kept:
                    evidence[spec.name] = kept
        return Record(
            self.object_type,
            record_id,
            fields,
            modified,
            field_times=times,
            field_evidence=evidence,
            unreadable=unreadable,
        )

    def _deletion(self, item: Mapping[str, Any], id_path: RecordPath) -> Record:
        raw_id = id_path.get(item)
        if not _is_id(raw_id):
            return Record.broken(
                self.object_type, "", Unreadable.of("id", raw_id, "the id of a deleted record")
            )
        return Record(self.object_type, str(raw_id), {}, NO_STAMP, deleted=True)


def _is_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, str) and bool(value.strip())) or isinstance(value, int)


def _marks(value: object, pattern: Any) -> bool:
    if value is MISSING or value is None or value is False:
        return False
    if pattern is None:
        return True
    return pattern.search(str(value)) is not None
