"""SQLite storage of Contact and Lead: one connection behind a lock, indexed for sync queries.

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
from itertools import islice
from typing import Any

from consent_sync_sandbox.salesforce.query import CompiledQuery, SqlParam
from consent_sync_sandbox.salesforce.schema import (
    SOBJECTS,
    FieldSpec,
    SObjectSpec,
    fold_text,
    make_id,
)
from consent_sync_sandbox.seed import SeedPerson

Row = dict[str, Any]  # field name -> stored value (booleans 0/1, datetimes epoch ms)

_SEED_CHUNK = 10_000
_SEED_SPAN_MS = 30 * 24 * 3600 * 1000  # seeded records look modified over the past 30 days
_STORED = [
    "IsDeleted",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "HasOptedOutOfEmail",
    "DoNotCall",
    "HasOptedOutOfFax",
    "SMS_Consent__c",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
]


def _ddl(spec: SObjectSpec) -> list[str]:
    table, name = spec.table, spec.name
    return [
        f"""CREATE TABLE IF NOT EXISTS {table} (
            seq INTEGER PRIMARY KEY,
            "IsDeleted" INTEGER NOT NULL DEFAULT 0,
            "FirstName" TEXT, "LastName" TEXT, "Email" TEXT, email_fold TEXT, "Phone" TEXT,
            "HasOptedOutOfEmail" INTEGER NOT NULL DEFAULT 0,
            "DoNotCall" INTEGER NOT NULL DEFAULT 0,
            "HasOptedOutOfFax" INTEGER NOT NULL DEFAULT 0,
            "SMS_Consent__c" TEXT,
            "CreatedDate" INTEGER NOT NULL,
            "LastModifiedDate" INTEGER NOT NULL,
            "SystemModstamp" INTEGER NOT NULL,
            deleted_at INTEGER)""",
        f'CREATE INDEX IF NOT EXISTS "ix_{name}_stamp" ON {table} ("SystemModstamp")',
        f'CREATE INDEX IF NOT EXISTS "ix_{name}_email" ON {table} (email_fold)',
        f'CREATE INDEX IF NOT EXISTS "ix_{name}_deleted" ON {table} (deleted_at) '
        "WHERE deleted_at IS NOT NULL",
    ]


class Clock:
    """Millisecond stamps that strictly increase across every write."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last = max(int(time.time() * 1000), self.last + 1)
        return self.last


class Store:
    """Contact and Lead rows; every method takes the lock, `transaction()` spans several."""

    def __init__(
        self, people: Iterable[SeedPerson] = (), expected: int = 0, cache_mb: int = 64
    ) -> None:
        self._conn = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self.clock = Clock()
        self._conn.execute(f"PRAGMA cache_size = -{cache_mb * 1024}")
        self._conn.execute("PRAGMA journal_mode = MEMORY")
        self._conn.execute("PRAGMA synchronous = OFF")
        for spec in SOBJECTS.values():
            self._conn.execute(_ddl(spec)[0])
        self.seeded = self._seed(people, expected)
        for spec in SOBJECTS.values():
            for statement in _ddl(spec)[1:]:
                self._conn.execute(statement)
        self._next_seq = {spec.name: self._max_seq(spec) + 1 for spec in SOBJECTS.values()}

    def _max_seq(self, spec: SObjectSpec) -> int:
        row = self._conn.execute(f"SELECT MAX(seq) FROM {spec.table}").fetchone()  # noqa: S608
        return int(row[0] or 0)

    def _seed(self, people: Iterable[SeedPerson], expected: int) -> int:
        """Insert Contacts in chunks, stamps spread over the past 30 days in id order."""
        stream = iter(people)
        now = int(time.time() * 1000)
        start = now - _SEED_SPAN_MS
        step = max(1, _SEED_SPAN_MS // max(1, expected))
        count = 0
        sql = (
            'INSERT INTO "Contact" (seq, "FirstName", "LastName", "Email", email_fold, "Phone", '
            '"HasOptedOutOfEmail", "DoNotCall", "HasOptedOutOfFax", "SMS_Consent__c", '
            '"CreatedDate", "LastModifiedDate", "SystemModstamp") '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )

        def rows(batch: Sequence[SeedPerson], offset: int) -> Iterator[tuple[object, ...]]:
            for i, p in enumerate(batch, start=offset):
                stamp = start + i * step
                yield (
                    i + 1,
                    p.first_name,
                    p.last_name,
                    p.email,
                    fold_text(p.email),
                    p.phone,
                    int(not p.email_ok),
                    int(not p.calls_ok),
                    int(not p.fax_ok),
                    p.sms,
                    stamp,
                    stamp,
                    stamp,
                )

        self._conn.execute("BEGIN")
        while batch := list(islice(stream, _SEED_CHUNK)):
            self._conn.executemany(sql, rows(batch, count))
            count += len(batch)
        self._conn.execute("COMMIT")
        self.clock.last = max(now, start + count * step)
        return count

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
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT seq, {', '.join(_quoted(_STORED))} FROM {spec.table} WHERE seq = ?",  # noqa: S608
                (seq,),
            )
            found = cursor.fetchone()
        return None if found is None else _row(spec, found)

    def find_by_email(self, spec: SObjectSpec, email: str, *, live_only: bool = False) -> list[int]:
        """Sequences of the rows whose Email matches case-insensitively."""
        live = ' AND "IsDeleted" = 0' if live_only else ""
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT seq FROM {spec.table} WHERE email_fold = ?{live} ORDER BY seq",  # noqa: S608
                (fold_text(email),),
            )
            return [int(r[0]) for r in cursor]

    def insert(self, spec: SObjectSpec, values: dict[FieldSpec, SqlParam], stamp: int) -> int:
        """Create a row with these field values; returns its sequence."""
        with self._lock:
            seq = self._next_seq[spec.name]
            self._next_seq[spec.name] = seq + 1
            columns: dict[str, object] = {"seq": seq, "CreatedDate": stamp}
            columns.update({"LastModifiedDate": stamp, "SystemModstamp": stamp})
            columns.update(_columns(values))
            names = ", ".join(_quoted(columns))
            marks = ", ".join("?" for _ in columns)
            self._conn.execute(
                f"INSERT INTO {spec.table} ({names}) VALUES ({marks})",  # noqa: S608
                tuple(columns.values()),
            )
            return seq

    def update(
        self, spec: SObjectSpec, seq: int, values: dict[FieldSpec, SqlParam], stamp: int
    ) -> None:
        """Write field values and bump LastModifiedDate and SystemModstamp to `stamp`."""
        columns: dict[str, object] = {"LastModifiedDate": stamp, "SystemModstamp": stamp}
        columns.update(_columns(values))
        assignments = ", ".join(f"{name} = ?" for name in _quoted(columns))
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
        """Rows for these sequences, in the given order."""
        if not seqs:
            return []
        marks = ", ".join("?" for _ in seqs)
        with self._lock:
            cursor = self._conn.execute(
                f"SELECT seq, {', '.join(_quoted(_STORED))} FROM {spec.table} "  # noqa: S608
                f"WHERE seq IN ({marks})",
                tuple(seqs),
            )
            by_seq = {int(r[0]): _row(spec, r) for r in cursor}
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
    return [name if name in ("seq", "email_fold") else f'"{name}"' for name in names]


def _columns(values: dict[FieldSpec, SqlParam]) -> dict[str, object]:
    columns: dict[str, object] = {}
    for spec, value in values.items():
        columns[spec.name] = value
        if spec.type == "email":
            columns["email_fold"] = None if value is None else fold_text(str(value))
    return columns


def _row(spec: SObjectSpec, found: Sequence[Any]) -> Row:
    row: Row = {"Id": make_id(spec.key_prefix, int(found[0]))}
    row.update(zip(_STORED, found[1:], strict=True))
    return row
