"""Planner statistics for the tables a backfill grows from nothing (PostgreSQL).

PostgreSQL plans each query from statistics that autovacuum refreshes once a table has grown
by a tenth, at most once a minute, and never when autovacuum is off. A backfill fills
`subjects`, `links`, `consent_state`, `shadows`, `ledger` and `outbox` from empty within
minutes; planned from the empty tables' statistics, every page's `IN` look-ups become
sequential scans of tables that are by then large, and a 100,000-contact backfill took 541 s
instead of about 150 (docs/performance.md). So ingestion counts the ledger rows it appends
and, once they reach half again what the ledger held at the last refresh (at least
`MIN_GROWTH`), runs `ANALYZE` on those tables: a handful of times over a backfill (ANALYZE
samples a fixed number of rows per table, well under a second each), almost never in steady
state. SQLite needs nothing: it plans these look-ups from the indexes alone.
"""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlmodel import Session

#: Appended ledger rows below which statistics are never refreshed (a small batch or store).
MIN_GROWTH = 20_000
_TABLES = "subjects, links, consent_state, shadows, ledger, outbox"
_ANALYZE = text(f"ANALYZE {_TABLES}")
_LEDGER_ROWS = text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'ledger'::regclass")


class _Growth:
    """Ledger rows appended by this process since the statistics were last refreshed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since = 0
        self.basis = 0  # ledger rows at the last refresh

    def add(self, rows: int) -> bool:
        """Count `rows`; whether a refresh is due now (then the count starts over)."""
        with self.lock:
            self.since += rows
            if self.since < max(MIN_GROWTH, self.basis // 2):
                return False
            self.since = 0
            return True


_growth = _Growth()


def appended(session: Session, rows: int) -> None:
    """`rows` ledger rows were appended in this transaction: refresh statistics when due."""
    if session.get_bind().dialect.name != "postgresql" or not _growth.add(rows):
        return
    session.execute(_ANALYZE)  # a lock only other ANALYZE and VACUUM wait for
    basis = session.execute(_LEDGER_ROWS).scalar_one()
    with _growth.lock:
        _growth.basis = max(int(basis), 0)
