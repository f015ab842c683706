"""Audience members in SQLite: one connection, one lock.

The database is a temporary file with a bounded page cache, so a million members cost disk, not
memory. Pages of `since_last_changed` reads use the (last_changed, seq) index; a page that
continues the one before it (same query, next offset, nothing written since) resumes from that
page's last key instead of counting past `offset` rows again.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from consent_sync_sandbox.mailchimp.audience import now_s
from consent_sync_sandbox.mailchimp.records import COLUMNS, Member, subscriber_hash
from consent_sync_sandbox.mailchimp.rules import (
    Actor,
    MemberInCompliance,
    StatusChange,
    refused,
    status_columns,
)
from consent_sync_sandbox.mailchimp.seeding import insert_seeded
from consent_sync_sandbox.seed import SeedPerson

_SCHEMA = """
CREATE TABLE members (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, email TEXT NOT NULL,
    fname TEXT NOT NULL DEFAULT '', lname TEXT NOT NULL DEFAULT '', phone TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL, email_type TEXT NOT NULL DEFAULT 'html',
    ip_signup TEXT NOT NULL DEFAULT '', ts_signup INTEGER, ip_opt TEXT NOT NULL DEFAULT '',
    ts_opt INTEGER, last_changed INTEGER NOT NULL, unsubscribe_reason TEXT,
    compliance INTEGER NOT NULL DEFAULT 0, permissions INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT 'API - Generic', language TEXT NOT NULL DEFAULT '',
    vip INTEGER NOT NULL DEFAULT 0, unique_email_id TEXT NOT NULL, web_id INTEGER NOT NULL
);
"""
_INDEXES = "CREATE INDEX members_changed ON members (last_changed, seq);"
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM members"  # noqa: S608 - fixed column names
#: Member columns a write may set directly (merge fields and profile settings).
PROFILE_COLUMNS = ("fname", "lname", "phone", "email_type", "language", "vip")
#: `sort_field` values and the column each sorts on.
SORT_COLUMNS = {
    "last_changed": "last_changed",
    "timestamp_opt": "ts_opt",
    "timestamp_signup": "ts_signup",
}


class MemberMissing(Exception):
    """No member holds this subscriber hash."""


class MemberExists(Exception):
    """A create named an address the audience already holds."""

    def __init__(self, email: str) -> None:
        super().__init__(
            f"{email} is already a list member. Use PUT to insert or update list members."
        )


@dataclass(frozen=True, slots=True)
class MemberWrite:
    """What one write asks of one member: a status change, profile columns, GDPR permissions."""

    status: StatusChange | None = None
    profile: Mapping[str, Any] = field(default_factory=dict)
    permissions: Mapping[int, bool] = field(default_factory=dict)  # permission bit -> enabled
    source: str = "API - Generic"


@dataclass(frozen=True, slots=True)
class MemberQuery:
    """A filtered, sorted view of the audience (the list endpoint's parameters)."""

    status: str | None = None
    since_last_changed: int | None = None
    before_last_changed: int | None = None
    since_timestamp_opt: int | None = None
    before_timestamp_opt: int | None = None
    sort_field: str | None = None
    descending: bool = False

    def where(self) -> tuple[str, tuple[object, ...]]:
        parts: list[str] = []
        params: list[object] = []
        for column, op, value in (
            ("status", "=", self.status),
            ("last_changed", ">", self.since_last_changed),
            ("last_changed", "<", self.before_last_changed),
            ("ts_opt", ">", self.since_timestamp_opt),
            ("ts_opt", "<", self.before_timestamp_opt),
        ):
            if value is not None:
                parts.append(f"{column} {op} ?")
                params.append(value)
        return " AND ".join(parts) or "1", tuple(params)

    def order(self) -> tuple[str, ...]:
        column = SORT_COLUMNS.get(self.sort_field or "")
        return (column, "seq") if column else ("seq",)


# SQL below is assembled only from fixed column names and the conditions `MemberQuery` builds,
# whose values are always bound parameters (S608 is suppressed line by line for that reason).


class MemberStore:
    """Thread-safe member storage for one audience."""

    def __init__(self) -> None:
        fd, self._path = tempfile.mkstemp(prefix="mailchimp-sandbox-", suffix=".sqlite")
        os.close(fd)
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=MEMORY", "synchronous=OFF", "cache_size=-32768"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._version = 0
        self._counts: dict[tuple[str, tuple[object, ...]], tuple[int, int]] = {}
        self._resume: dict[tuple[object, ...], tuple[int, tuple[object, ...]]] = {}

    def close(self) -> None:
        """Drop the database file."""
        with self._lock:
            self._db.close()
            os.unlink(self._path)

    def seed(self, people: Iterable[SeedPerson], n: int) -> None:
        """Insert `n` seeded people, then build the index."""
        with self._lock:
            insert_seeded(self._db, people, n)
            self._db.executescript(_INDEXES)
            self._version += 1

    # -- reads ---------------------------------------------------------------------------------

    def get(self, member_id: str) -> Member | None:
        """One member by subscriber hash."""
        with self._lock:
            row = self._db.execute(f"{_SELECT} WHERE id = ?", (member_id,)).fetchone()
        return Member.from_row(row) if row else None

    def by_email(self, email: str) -> Member | None:
        """One member by address, matched as Mailchimp does (case-insensitively, via its hash)."""
        return self.get(subscriber_hash(email))

    def query(self, query: MemberQuery, count: int, offset: int) -> tuple[int, list[Member]]:
        """The total of matching members and one page of them."""
        where, params = query.where()
        order = query.order()
        direction = " DESC" if query.descending else ""
        order_sql = ", ".join(f"{c}{direction}" for c in order)
        with self._lock:
            total = self._count(where, params)
            key = (where, params, order, query.descending, offset)
            resume = self._resume.pop(key, None)
            if resume is not None and resume[0] == self._version and None not in resume[1]:
                after, values = self._after(order, query.descending, resume[1])
                rows = self._db.execute(
                    f"{_SELECT} WHERE ({where}) AND {after} ORDER BY {order_sql} LIMIT ?",
                    (*params, *values, count),
                ).fetchall()
            else:
                rows = self._db.execute(
                    f"{_SELECT} WHERE {where} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                    (*params, count, offset),
                ).fetchall()
            members = [Member.from_row(row) for row in rows]
            if members:
                last = members[-1]
                names = {
                    "seq": last.seq,
                    "last_changed": last.last_changed,
                    "ts_opt": last.ts_opt,
                    "ts_signup": last.ts_signup,
                }
                if len(self._resume) > 64:
                    self._resume.clear()
                next_key = (where, params, order, query.descending, offset + len(members))
                self._resume[next_key] = (self._version, tuple(names[c] for c in order))
        return total, members

    def status_counts(self) -> dict[str, int]:
        """Members per status (the list's stats)."""
        with self._lock:
            rows = self._db.execute("SELECT status, count(*) FROM members GROUP BY status")
            return {str(status): int(n) for status, n in rows}

    def last_changed(self, status: str) -> int | None:
        """When a member last changed while holding `status` (the list's last_sub/unsub_date)."""
        with self._lock:
            row = self._db.execute(
                "SELECT max(last_changed) FROM members WHERE status = ?", (status,)
            ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    # -- writes --------------------------------------------------------------------------------

    def write(
        self,
        email: str,
        change: MemberWrite,
        actor: Actor,
        *,
        may_create: bool = True,
        may_update: bool = True,
    ) -> tuple[Member, bool]:
        """Create or update the member holding `email`; return it and whether it was created.

        Raises `MemberMissing` (no member, and no create), `MemberExists` (a member, and no
        update), `MemberInCompliance` (the API may not subscribe this member), `ValueError` (a
        new member needs a status). A write that changes nothing leaves `last_changed` alone.
        """
        member_id = subscriber_hash(email)
        with self._lock:
            current = self.get(member_id)
            now = now_s()
            if current is None:
                if not may_create:
                    raise MemberMissing(member_id)
                if change.status is None:
                    raise ValueError("status")
                self._insert(member_id, email.strip(), change, actor, now)
                created = self.get(member_id)
                assert created is not None
                return created, True
            if not may_update:
                raise MemberExists(current.email)
            columns = self._changed_columns(current, change, actor, now)
            if not columns:
                return current, False
            assignments = ", ".join(f"{c} = ?" for c in columns)
            self._db.execute(
                f"UPDATE members SET {assignments}, last_changed = ? WHERE id = ?",  # noqa: S608
                (*columns.values(), now, member_id),
            )
            self._version += 1
            updated = self.get(member_id)
            assert updated is not None
            return updated, False

    def archive(self, member_id: str) -> bool:
        """Archive a member (`DELETE .../members/{hash}`); False if there is none to archive."""
        with self._lock:
            current = self.get(member_id)
            if current is None or current.status == "archived":
                return False
            self._db.execute(
                "UPDATE members SET status = 'archived', last_changed = ? WHERE id = ?",
                (now_s(), member_id),
            )
            self._version += 1
            return True

    # -- internals -----------------------------------------------------------------------------

    def _count(self, where: str, params: tuple[object, ...]) -> int:
        cached = self._counts.get((where, params))
        if cached is not None and cached[0] == self._version:
            return cached[1]
        total = int(
            self._db.execute(
                f"SELECT count(*) FROM members WHERE {where}",  # noqa: S608
                params,
            ).fetchone()[0]
        )
        if len(self._counts) > 256:
            self._counts.clear()
        self._counts[(where, params)] = (self._version, total)
        return total

    @staticmethod
    def _after(
        order: tuple[str, ...], descending: bool, values: tuple[object, ...]
    ) -> tuple[str, tuple[object, ...]]:
        op = "<" if descending else ">"
        if len(order) == 1:
            return f"seq {op} ?", values
        column = order[0]
        return f"({column} {op} ? OR ({column} = ? AND seq {op} ?))", (
            values[0],
            values[0],
            values[1],
        )

    def _insert(
        self, member_id: str, email: str, change: MemberWrite, actor: Actor, now: int
    ) -> None:
        assert change.status is not None
        columns: dict[str, Any] = {"fname": "", "lname": "", "phone": ""}
        columns.update({c: v for c, v in change.profile.items() if c in PROFILE_COLUMNS})
        columns.update(status_columns(None, change.status, actor, now))
        columns["permissions"] = sum(bit for bit, on in change.permissions.items() if on)
        columns["source"] = change.source
        seq = int(self._db.execute("SELECT coalesce(max(seq), 0) + 1 FROM members").fetchone()[0])
        columns.update(
            {
                "seq": seq,
                "id": member_id,
                "email": email,
                "last_changed": now,
                "unique_email_id": subscriber_hash(member_id)[:10],
                "web_id": 100_000_000 + seq,
            }
        )
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        self._db.execute(
            f"INSERT INTO members ({names}) VALUES ({marks})",  # noqa: S608
            tuple(columns.values()),
        )
        self._version += 1

    @staticmethod
    def _changed_columns(
        current: Member, change: MemberWrite, actor: Actor, now: int
    ) -> dict[str, Any]:
        columns: dict[str, Any] = {
            c: v
            for c, v in change.profile.items()
            if c in PROFILE_COLUMNS and getattr(current, c) != v
        }
        if change.permissions:
            bits = current.permissions
            for bit, on in change.permissions.items():
                bits = bits | bit if on else bits & ~bit
            if bits != current.permissions:
                columns["permissions"] = bits
        requested = change.status
        if requested is not None:
            if refused(current.status, current.compliance, requested.status, actor):
                raise MemberInCompliance(current.email)
            row = {name: getattr(current, name) for name in COLUMNS}
            for column, value in status_columns(row, requested, actor, now).items():
                if row[column] != value:
                    columns[column] = value
        return columns
