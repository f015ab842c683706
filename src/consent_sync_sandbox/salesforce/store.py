"""SQLite storage of every sObject: one connection behind a lock, indexed for sync queries.

A record's Id is minted from its rowid (same order), so Id lookups and `ORDER BY Id` ride the
primary key. The database is a private temporary file: pages beyond the cache spill to disk, so a
million contacts stay in bounded memory. Table and column names in SQL come only from the fixed
schema (never from a request), hence the `noqa: S608`s; values are always bound parameters.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from consent_sync_sandbox.salesforce.objects import SOBJECTS
from consent_sync_sandbox.salesforce.query import CompiledQuery
from consent_sync_sandbox.salesforce.schema import (
    FieldSpec,
    SObjectSpec,
    SqlParam,
    fold_text,
    make_id,
)

Row = dict[str, Any]  # field name -> stored value (booleans 0/1, datetimes ms, lookups seq)
_SYSTEM = ("IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")


def _column_ddl(field: FieldSpec) -> str:
    if field.name in _SYSTEM:
        return f"{field.column} INTEGER NOT NULL" + (
            " DEFAULT 0" if field.name == "IsDeleted" else ""
        )
    if field.type == "boolean":
        return f"{field.column} INTEGER NOT NULL DEFAULT 0"
    if field.type in ("datetime", "reference"):
        return f"{field.column} INTEGER"
    if field.type == "email":
        return f"{field.column} TEXT, {field.fold_column} TEXT"
    return f"{field.column} TEXT"


def _table_ddl(spec: SObjectSpec) -> str:
    columns = ", ".join(_column_ddl(f) for f in spec.stored)
    return (
        f"CREATE TABLE IF NOT EXISTS {spec.table} "
        f"(seq INTEGER PRIMARY KEY, {columns}, deleted_at INTEGER)"
    )


def _index_ddl(spec: SObjectSpec) -> list[str]:
    """Indexes for what sync queries filter on: stamps, emails, lookups, deletions."""
    table, name = spec.table, spec.name
    statements = [
        f'CREATE INDEX IF NOT EXISTS "ix_{name}_stamp" ON {table} ("SystemModstamp")',
        f'CREATE INDEX IF NOT EXISTS "ix_{name}_deleted" ON {table} (deleted_at) '
        "WHERE deleted_at IS NOT NULL",
    ]
    for field in spec.stored:
        if field.type in ("email", "reference"):
            column = field.fold_column if field.type == "email" else field.column
            statements.append(
                f'CREATE INDEX IF NOT EXISTS "ix_{name}_{field.name}" ON {table} ({column})'
            )
    return statements


class Clock:
    """Millisecond stamps that strictly increase across every write."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last = max(int(time.time() * 1000), self.last + 1)
        return self.last


class Store:
    """Every sObject's rows; every method takes the lock, `transaction()` spans several.

    Seeding: `load()` rows in one `transaction()`, then `finish_loading()` builds the indexes.
    """

    def __init__(self, cache_mb: int = 64) -> None:
        self._conn = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self.clock = Clock()
        self.seeded = 0
        self._conn.execute(f"PRAGMA cache_size = -{cache_mb * 1024}")
        self._conn.execute("PRAGMA journal_mode = MEMORY")
        self._conn.execute("PRAGMA synchronous = OFF")
        for spec in SOBJECTS.values():
            self._conn.execute(_table_ddl(spec))
        self._next_seq = {spec.name: 1 for spec in SOBJECTS.values()}

    def load(
        self, spec: SObjectSpec, names: Sequence[str], rows: Iterable[Sequence[SqlParam]]
    ) -> None:
        """Bulk-insert seeded rows: `names` are `seq` and stored field names, in row order.

        Email fields' folded copies are derived here.
        """
        email_fields = {
            i: f
            for i, n in enumerate(names)
            if (f := spec.field(n)) is not None and f.type == "email"
        }
        emails = list(email_fields)
        columns = [*_quoted(names), *(f.fold_column for f in email_fields.values())]

        def with_folds(row: Sequence[SqlParam]) -> tuple[SqlParam, ...]:
            folds = [None if row[i] is None else fold_text(str(row[i])) for i in emails]
            return (*row, *folds)

        marks = ", ".join("?" for _ in columns)
        with self._lock:
            self._conn.executemany(
                f"INSERT INTO {spec.table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                map(with_folds, rows),
            )

    def finish_loading(self) -> None:
        """Build the indexes and continue every sequence after the seeded rows."""
        with self._lock:
            for spec in SOBJECTS.values():
                for statement in _index_ddl(spec):
                    self._conn.execute(statement)
                self._next_seq[spec.name] = self._max_seq(spec) + 1

    def _max_seq(self, spec: SObjectSpec) -> int:
        row = self._conn.execute(f"SELECT MAX(seq) FROM {spec.table}").fetchone()  # noqa: S608
        return int(row[0] or 0)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and run the block in one transaction, rolled back on error."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def get(self, spec: SObjectSpec, seq: int) -> Row | None:
        """One stored row by sequence, deleted or not."""
        found = self.fetch(spec, [seq])
        return found[0] if found else None

    def find_by_email(self, spec: SObjectSpec, email: str, *, live_only: bool = False) -> list[int]:
        """Sequences of the rows whose email field matches case-insensitively."""
        field = next(f for f in spec.stored if f.type == "email")
        live = ' AND "IsDeleted" = 0' if live_only else ""
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT seq FROM {spec.table} WHERE {field.fold_column} = ?{live} ORDER BY seq",  # noqa: S608
                (fold_text(email),),
            )
            return [int(r[0]) for r in cursor]

    def find_text(self, spec: SObjectSpec, field: FieldSpec, value: str) -> list[int]:
        """Sequences of the live rows whose text `field` equals `value`, ignoring case."""
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT seq FROM {spec.table} WHERE {field.column} = ? COLLATE NOCASE "  # noqa: S608
                'AND "IsDeleted" = 0 ORDER BY seq',
                (value,),
            )
            return [int(r[0]) for r in cursor]

    def referencing(
        self, spec: SObjectSpec, field: FieldSpec, seqs: Sequence[int], *, live_only: bool = True
    ) -> list[Row]:
        """Rows whose lookup `field` names one of `seqs` (the Contacts of an Individual...)."""
        if not seqs:
            return []
        live = ' AND "IsDeleted" = 0' if live_only else ""
        marks = ", ".join("?" for _ in seqs)
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT seq FROM {spec.table} WHERE {field.column} IN ({marks}){live} "  # noqa: S608
                "ORDER BY seq",
                tuple(seqs),
            )
            found = [int(r[0]) for r in cursor]
        return self.fetch(spec, found)

    def insert(self, spec: SObjectSpec, values: dict[FieldSpec, SqlParam], stamp: int) -> int:
        """Create a row with these field values; returns its sequence."""
        with self._lock:
            seq = self._next_seq[spec.name]
            self._next_seq[spec.name] = seq + 1
            columns: dict[str, SqlParam] = {"seq": seq, '"CreatedDate"': stamp}
            columns.update({'"LastModifiedDate"': stamp, '"SystemModstamp"': stamp})
            columns.update(_columns(values))
            marks = ", ".join("?" for _ in columns)
            self._conn.execute(
                f"INSERT INTO {spec.table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                tuple(columns.values()),
            )
            return seq

    def update(
        self, spec: SObjectSpec, seq: int, values: dict[FieldSpec, SqlParam], stamp: int
    ) -> None:
        """Write field values and bump LastModifiedDate and SystemModstamp to `stamp`."""
        columns: dict[str, SqlParam] = {'"LastModifiedDate"': stamp, '"SystemModstamp"': stamp}
        columns.update(_columns(values))
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._lock:
            self._conn.execute(
                f"UPDATE {spec.table} SET {assignments} WHERE seq = ?",  # noqa: S608
                (*columns.values(), seq),
            )

    def delete(self, spec: SObjectSpec, seq: int, stamp: int) -> None:
        """Soft-delete: IsDeleted, the deletion time for /deleted/, bumped stamps."""
        with self._lock:
            self._conn.execute(
                f'UPDATE {spec.table} SET "IsDeleted" = 1, deleted_at = ?1, '  # noqa: S608
                '"LastModifiedDate" = ?1, "SystemModstamp" = ?1 WHERE seq = ?2',
                (stamp, seq),
            )

    def select_rowids(self, query: CompiledQuery) -> array[int]:
        """The matching rows' sequences in result order (8 bytes each: a query snapshot)."""
        with self._lock:
            cursor = self._conn.execute(query.sql, query.params)
            return array("q", (r[0] for r in cursor))

    def count(self, query: CompiledQuery) -> int:
        with self._lock:
            row = self._conn.execute(f"SELECT COUNT(*) FROM ({query.sql})", query.params).fetchone()  # noqa: S608
        return int(row[0])

    def fetch(self, spec: SObjectSpec, seqs: Sequence[int]) -> list[Row]:
        """Rows for these sequences, in the given order (unknown ones left out)."""
        if not seqs:
            return []
        stored = [f.name for f in spec.stored]
        marks = ", ".join("?" for _ in seqs)
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT seq, {', '.join(_quoted(stored))} FROM {spec.table} "  # noqa: S608
                f"WHERE seq IN ({marks})",
                tuple(seqs),
            )
            by_seq = {int(r[0]): _row(spec, stored, r) for r in cursor}
        return [by_seq[s] for s in seqs if s in by_seq]

    def modified_between(self, spec: SObjectSpec, start: int, end: int, limit: int) -> list[str]:
        """Ids of live rows whose SystemModstamp lies in [start, end], at most `limit`."""
        with self._lock:
            cursor = self._conn.execute(
                f'SELECT seq FROM {spec.table} WHERE "SystemModstamp" >= ? '  # noqa: S608
                'AND "SystemModstamp" <= ? AND "IsDeleted" = 0 ORDER BY "SystemModstamp" LIMIT ?',
                (start, end, limit),
            )
            return [make_id(spec.key_prefix, int(r[0])) for r in cursor]

    def deleted_between(
        self, spec: SObjectSpec, start: int, end: int, limit: int
    ) -> list[tuple[str, int]]:
        """(id, deletion ms) of rows deleted in [start, end], at most `limit`."""
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT seq, deleted_at FROM {spec.table} WHERE deleted_at >= ? "  # noqa: S608
                "AND deleted_at <= ? ORDER BY deleted_at LIMIT ?",
                (start, end, limit),
            )
            return [(make_id(spec.key_prefix, int(r[0])), int(r[1])) for r in cursor]


def _quoted(names: Iterable[str]) -> list[str]:
    return [name if name == "seq" else f'"{name}"' for name in names]


def _columns(values: dict[FieldSpec, SqlParam]) -> dict[str, SqlParam]:
    columns: dict[str, SqlParam] = {}
    for field, value in values.items():
        columns[field.column] = value
        if field.type == "email":
            columns[field.fold_column] = None if value is None else fold_text(str(value))
    return columns


def _row(spec: SObjectSpec, stored: Sequence[str], found: Sequence[Any]) -> Row:
    row: Row = {"Id": make_id(spec.key_prefix, int(found[0]))}
    row.update(zip(stored, found[1:], strict=True))
    return row
