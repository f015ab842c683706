"""Many rows through one statement, with SQLAlchemy's compile done once rather than per row.

Ingestion writes thousands of ledger, state and shadow rows per page. Through
`session.execute(statement, rows)` SQLAlchemy builds and processes a parameter set per row in
Python (`construct_params` and each column's bind processor, called through several layers),
about a third of a page's commit. `executemany` compiles the statement once per dialect,
converts each value with the very bind processor SQLAlchemy would have used for its column (so
what is stored is byte for byte the same: UTC text on SQLite, `timestamptz` on PostgreSQL,
JSON as SQLAlchemy serialises it), and hands the rows to the driver's `executemany` on the
session's connection, inside its transaction (docs/performance.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeEngine
from sqlmodel import Session

from consent_sync.store.types import UTCDateTime, utc

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as the driver takes it, and how to turn a row into its parameters."""

    sql: str
    names: tuple[str, ...]  # the parameters, in the driver's order
    processors: tuple[tuple[int, Processor], ...]  # (position, bind processor) where needed
    positional: bool  # `?` parameters (SQLite) rather than `%(name)s` (psycopg)

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        getter = itemgetter(*self.names)
        single = len(self.names) == 1
        out: list[Any] = []
        for row in rows:
            values = [getter(row)] if single else list(getter(row))
            for position, process in self.processors:
                values[position] = process(values[position])
            out.append(
                tuple(values) if self.positional else dict(zip(self.names, values, strict=True))
            )
        return out


_compiled: dict[tuple[Hashable, str, tuple[str, ...]], _Compiled] = {}
_lock = threading.Lock()


def _compile(
    key: Hashable, build: Callable[[], ClauseElement], dialect: Dialect, columns: tuple[str, ...]
) -> _Compiled:
    cached = _compiled.get((key, dialect.name, columns))
    if cached is not None:
        return cached
    compiled = build().compile(dialect=dialect, column_keys=list(columns))
    if not isinstance(compiled, SQLCompiler):  # pragma: no cover - a DML statement compiles so
        raise TypeError(f"{key!r} is not a statement with parameters")
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    processors = []
    for position, name in enumerate(names):
        process = _processor(compiled.binds[name].type, dialect)
        if process is not None:
            processors.append((position, process))
    made = _Compiled(str(compiled), names, tuple(processors), bool(compiled.positional))
    with _lock:
        _compiled[(key, dialect.name, columns)] = made
    return made


def _processor(kind: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    """The column type's bind processor; for `UTCDateTime` on SQLite one that writes the same
    text as SQLAlchemy's (`YYYY-MM-DD HH:MM:SS.ffffff` in UTC) in one C call instead of two
    Python layers and a dict-formatted string."""
    if isinstance(kind, UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_utc_text
    return kind.dialect_impl(dialect).bind_processor(dialect)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    global _last
    if value is None:
        return None
    seen, text = _last
    if value is seen:  # a page's rows share one `now` (recorded_at, updated_at, seen_at)
        return text
    instant = value if value.tzinfo is UTC else utc(value)
    text = instant.replace(tzinfo=None).isoformat(" ", "microseconds")
    _last = (value, text)  # one tuple, swapped whole: safe between threads
    return text


_last: tuple[datetime | None, str] = (None, "")


def executemany(
    session: Session,
    key: Hashable,
    build: Callable[[], ClauseElement],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Run the statement `build()` makes once per row of `rows`, in the session's transaction.

    `key` names the statement (the same key must always build the same statement). An INSERT
    sets the columns the first row names; every row names the same ones (a missing value is a
    KeyError, never a NULL).
    """
    if not rows:
        return
    compiled = _compile(key, build, session.get_bind().dialect, tuple(rows[0]))
    session.connection().exec_driver_sql(compiled.sql, compiled.parameters(rows))
