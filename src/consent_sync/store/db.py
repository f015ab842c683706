"""Engines and transactions: the embedded SQLite default or PostgreSQL, same behaviour."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from consent_sync.store.errors import UnsupportedDatabaseError

URL_ENV = "CONSENT_SYNC_DATABASE_URL"
DEFAULT_URL = "sqlite:///consent-sync.db"
_READ_ONLY = "consent_sync_read_only"
BUSY_TIMEOUT_MS = 30_000


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """`CONSENT_SYNC_DATABASE_URL`, else `consent-sync.db` in the working directory."""
    env = os.environ if environ is None else environ
    return env.get(URL_ENV) or DEFAULT_URL


def parse_url(url: str) -> URL:
    """`url` parsed; an ArgumentError that quotes none of it when it does not parse.

    SQLAlchemy raises a ValueError quoting the text after the host for a port that is not a
    number (or a host like `[::1` that makes one): that text may hold a password.
    """
    try:
        return make_url(url)
    except ValueError:
        raise ArgumentError("its host:port does not parse (the port must be a number)") from None


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs (a placeholder if unparseable)."""
    try:
        return parse_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(a database URL that does not parse)"


def create_store_engine(url: str) -> Engine:
    """An engine for `url`; SQLite connections get WAL, a busy timeout and foreign keys.

    A bare `postgresql://` URL uses psycopg 3, the driver consent-sync ships with.
    """
    parsed = parse_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise UnsupportedDatabaseError(backend)
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "do_connect", partial(_create_private_file, parsed.database))
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _create_private_file(database: str | None, *_connect_args: Any) -> None:
    """Create a missing SQLite file readable by its owner only (0600): it holds emails and
    consent history. SQLite gives its -wal and -shm files the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # an existing file keeps the mode its owner gave it
    except OSError:
        pass  # a missing directory or no permission: SQLite's own error says it better


#: Page cache a SQLite connection may fill, in KiB (a bound, taken only as pages are read).
SQLITE_CACHE_KIB = 16 * 1024


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 module so `_sqlite_begin` decides how to begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # SQLite caches 2 MiB of pages a connection by default: a backfill's transactions then
        # spill pages to the WAL and read them back, 2.3 times the system calls of 16 MiB
        # (docs/performance.md, "What changed since 5d4968c").
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that read first and writes
    # later fails with SQLITE_BUSY instead of waiting, and the lock is what serializes the ledger.
    if connection.get_execution_options().get(_READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def write_session(engine: Engine, *, rollback: bool = False) -> Iterator[Session]:
    """One read-write transaction: committed when the block ends, rolled back if it raises.

    `rollback=True` always rolls back: a dry run sees what would happen and keeps nothing.
    """
    with Session(engine, expire_on_commit=False) as session:
        transaction = session.begin()
        try:
            yield session
        except BaseException:
            transaction.rollback()
            raise
        if rollback:
            transaction.rollback()
        else:
            transaction.commit()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """One read-only transaction that never blocks writers."""
    read_only = engine.execution_options(**{_READ_ONLY: True})
    with Session(read_only, expire_on_commit=False) as session, session.begin():
        yield session


@dataclass(frozen=True, slots=True)
class Transactions:
    """The transactions the store's facets share: over one engine, writes honour a dry run."""

    engine: Engine
    dry_run: bool = False  # every write transaction is rolled back

    def write(self) -> AbstractContextManager[Session]:
        """One read-write transaction (`write_session`), rolled back instead in a dry run."""
        return write_session(self.engine, rollback=self.dry_run)

    def read(self) -> AbstractContextManager[Session]:
        """One read-only transaction that never blocks writers (`read_session`)."""
        return read_session(self.engine)
