"""Contacts and their deletions in SQLite, with Dataverse's row versions: one connection, one lock.

Every change takes the next `versionnumber` (the table-wide row version change tracking reads)
and moves `modifiedon` to the current second; a delete leaves a tombstone carrying its own
version, so a delta can report it. The database is a temporary file with a bounded page cache,
so a million contacts cost disk, not memory.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from consent_sync_sandbox.dynamics.odata_filter import FOLD_FUNCTION, fold
from consent_sync_sandbox.dynamics.schema import ATTRIBUTES

Row = dict[str, Any]

#: Stored columns, one per attribute (`fullname` is kept in step with the names).
COLUMNS = tuple(a.logical_name for a in ATTRIBUTES)
_SCHEMA = """
CREATE TABLE contacts (
    seq INTEGER PRIMARY KEY,
    contactid TEXT NOT NULL,
    firstname TEXT, lastname TEXT, fullname TEXT,
    emailaddress1 TEXT, emailaddress2 TEXT, telephone1 TEXT, mobilephone TEXT,
    donotbulkemail INTEGER NOT NULL DEFAULT 0, donotemail INTEGER NOT NULL DEFAULT 0,
    donotphone INTEGER NOT NULL DEFAULT 0, donotfax INTEGER NOT NULL DEFAULT 0,
    donotpostalmail INTEGER NOT NULL DEFAULT 0, donotbulkpostalmail INTEGER NOT NULL DEFAULT 0,
    donotsendmm INTEGER NOT NULL DEFAULT 0,
    description TEXT,
    statecode INTEGER NOT NULL DEFAULT 0, statuscode INTEGER NOT NULL DEFAULT 1,
    createdon INTEGER NOT NULL, modifiedon INTEGER NOT NULL,
    versionnumber INTEGER NOT NULL,
    email_key TEXT
);
CREATE TABLE deletions (
    versionnumber INTEGER PRIMARY KEY, contactid TEXT NOT NULL, deletedon INTEGER NOT NULL
);
"""
#: Built once the seeded rows are in (faster than keeping them up to date row by row).
_INDEXES = """
CREATE UNIQUE INDEX contacts_id ON contacts (contactid);
CREATE UNIQUE INDEX contacts_version ON contacts (versionnumber);
CREATE INDEX contacts_modified ON contacts (modifiedon, contactid);
CREATE INDEX contacts_email ON contacts (email_key);
"""
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM contacts"  # noqa: S608 - fixed column names
#: The first row version a fresh organisation hands out (real ones are large numbers too).
FIRST_VERSION = 1_000_001


def full_name(first: str | None, last: str | None) -> str | None:
    """`fullname` as Dataverse composes it by default: "First Last"."""
    name = " ".join(part for part in (first, last) if part)
    return name or None


def email_key(email: str | None) -> str | None:
    """The folded email the emulator matches and filters on."""
    return fold(email.strip()) if email else None


# SQL below is assembled only from the fixed COLUMNS names and compiled filter conditions whose
# values are always bound parameters (S608 is suppressed line by line for that reason).


class ContactStore:
    """Thread-safe contact storage with a table-wide row version."""

    def __init__(self) -> None:
        fd, self._path = tempfile.mkstemp(prefix="dynamics-sandbox-", suffix=".sqlite")
        os.close(fd)
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=MEMORY", "synchronous=OFF", "cache_size=-32768"):
            self._db.execute(f"PRAGMA {pragma}")
        name, arity, function = FOLD_FUNCTION
        self._db.create_function(name, arity, function, deterministic=True)
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._version = FIRST_VERSION - 1
        self._in_transaction = 0

    def close(self) -> None:
        """Drop the database file."""
        with self._lock:
            self._db.close()
            os.unlink(self._path)

    # -- seeding -------------------------------------------------------------------------------

    def seed(self, rows: Iterable[Sequence[Any]]) -> None:
        """Insert seeded rows (COLUMNS order plus email_key), then build the indexes."""
        marks = ",".join("?" * (len(COLUMNS) + 1))
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT INTO contacts ({', '.join(COLUMNS)}, email_key) VALUES ({marks})",  # noqa: S608
                rows,
            )
            self._db.execute("COMMIT")
            self._db.executescript(_INDEXES)
            newest = self._db.execute("SELECT max(versionnumber) FROM contacts").fetchone()[0]
            self._version = max(self._version, newest or 0)

    # -- reads ---------------------------------------------------------------------------------

    def max_version(self) -> int:
        """The newest row version handed out (changes and deletions alike)."""
        with self._lock:
            return self._version

    def get(self, contact_id: str) -> Row | None:
        """One contact by its GUID (any case)."""
        with self._lock:
            row = self._db.execute(
                f"{_SELECT} WHERE contactid = ?",
                (contact_id.lower(),),
            ).fetchone()
        return _row(row) if row else None

    def by_email(self, email: str) -> list[Row]:
        """Every contact whose `emailaddress1` is this email (Dataverse allows duplicates)."""
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} WHERE email_key = ? ORDER BY seq",
                (email_key(email),),
            ).fetchall()
        return [_row(r) for r in rows]

    def query(
        self,
        where: str,
        params: tuple[Any, ...],
        order: Sequence[tuple[str, bool]],
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[tuple[Row, tuple[Any, ...]]]:
        """One keyset page: rows matching `where` in `order` (SQL expression, descending?),
        strictly after the sort key `after`; each row with its own sort key."""
        keys = ", ".join(expr for expr, _ in order)
        clauses = [f"({where})"]
        values: list[Any] = list(params)
        if after is not None:
            seek, seek_params = _seek(order, after)
            clauses.append(seek)
            values.extend(seek_params)
        ordering = ", ".join(f"{expr} {'DESC' if desc else 'ASC'}" for expr, desc in order)
        sql = (
            f"SELECT {', '.join(COLUMNS)}, {keys} FROM contacts "  # noqa: S608
            f"WHERE {' AND '.join(clauses)} ORDER BY {ordering} LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (*values, limit)).fetchall()
        width = len(COLUMNS)
        return [(_row(r[:width]), tuple(r[width:])) for r in rows]

    def changed(self, after: int, upto: int, limit: int) -> list[Row]:
        """Live contacts whose row version is in (after, upto], oldest version first."""
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} WHERE versionnumber > ? AND versionnumber <= ? "
                "ORDER BY versionnumber LIMIT ?",
                (after, upto, limit),
            ).fetchall()
        return [_row(r) for r in rows]

    def deleted(self, after: int, upto: int, limit: int) -> list[tuple[int, str]]:
        """(version, contactid) of deletions in (after, upto], oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT versionnumber, contactid FROM deletions "
                "WHERE versionnumber > ? AND versionnumber <= ? ORDER BY versionnumber LIMIT ?",
                (after, upto, limit),
            ).fetchall()

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM contacts").fetchone()[0])

    # -- writes --------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all (a `$batch` change set)."""
        with self._lock:
            outermost = self._in_transaction == 0
            if outermost:
                self._db.execute("BEGIN")
            self._in_transaction += 1
            try:
                yield
            except BaseException:
                self._in_transaction -= 1
                if outermost:
                    self._db.execute("ROLLBACK")
                raise
            self._in_transaction -= 1
            if outermost:
                self._db.execute("COMMIT")

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    def create(self, values: Row, contact_id: str | None = None) -> Row:
        """Insert a contact (a fresh GUID unless one is given); returns it as stored."""
        with self._lock:
            now = int(time.time())
            row: Row = dict.fromkeys(COLUMNS)
            row.update({f: 0 for f in COLUMNS if f.startswith("donot")})
            row.update(statecode=0, statuscode=1)
            row.update(values)
            row["contactid"] = (contact_id or str(uuid.uuid4())).lower()
            row["fullname"] = full_name(row["firstname"], row["lastname"])
            row.update(createdon=now, modifiedon=now, versionnumber=self._next_version())
            marks = ",".join("?" * (len(COLUMNS) + 1))
            self._db.execute(
                f"INSERT INTO contacts ({', '.join(COLUMNS)}, email_key) VALUES ({marks})",  # noqa: S608
                (*(row[c] for c in COLUMNS), email_key(row["emailaddress1"])),
            )
            return row

    def update(self, contact_id: str, values: Row) -> Row | None:
        """Apply `values` (writable columns only); None if there is no such contact.

        Every update moves `modifiedon` and the row version, even one that changes nothing,
        as Dataverse's does.
        """
        with self._lock:
            current = self.get(contact_id)
            if current is None:
                return None
            current.update(values)
            current["fullname"] = full_name(current["firstname"], current["lastname"])
            current["modifiedon"] = int(time.time())
            current["versionnumber"] = self._next_version()
            assignments = ", ".join(f"{c} = ?" for c in COLUMNS if c != "contactid")
            self._db.execute(
                f"UPDATE contacts SET {assignments}, email_key = ? WHERE contactid = ?",  # noqa: S608
                (
                    *(current[c] for c in COLUMNS if c != "contactid"),
                    email_key(current["emailaddress1"]),
                    current["contactid"],
                ),
            )
            return current

    def delete(self, contact_id: str) -> bool:
        """Delete a contact, leaving a tombstone for change tracking; False if there was none."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM contacts WHERE contactid = ?", (contact_id.lower(),)
            )
            if cursor.rowcount == 0:
                return False
            self._db.execute(
                "INSERT INTO deletions VALUES (?, ?, ?)",
                (self._next_version(), contact_id.lower(), int(time.time())),
            )
            return True


def _row(values: Sequence[Any]) -> Row:
    return dict(zip(COLUMNS, values, strict=True))


def _seek(order: Sequence[tuple[str, bool]], after: Sequence[Any]) -> tuple[str, list[Any]]:
    """`(k1, k2, ...) > after` under per-key directions, as OR-ed prefix comparisons."""
    alternatives: list[str] = []
    params: list[Any] = []
    for depth, (expr, desc) in enumerate(order):
        equal = [f"{e} = ?" for e, _ in order[:depth]]
        strict = f"{expr} {'<' if desc else '>'} ?"
        alternatives.append("(" + " AND ".join([*equal, strict]) + ")")
        params.extend(after[:depth])
        params.append(after[depth])
    return "(" + " OR ".join(alternatives) + ")", params
