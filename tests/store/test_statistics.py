"""A backfill refreshes PostgreSQL's planner statistics as it grows the tables (statistics.py).

The test server runs with autovacuum off, as some do: without the refresh, every page's look-ups
are planned from the empty tables' statistics and scan them whole.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from consent_sync.domain.model import LinkKey, Status
from consent_sync.store import Store, statistics
from support.databases import pg_url
from support.store_builders import ingest, seen

pytestmark = pytest.mark.postgres
__all__ = ["pg_url"]  # the fixture: a fresh, migrated database of its own


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A threshold of 3 ledger rows and a fresh count, so a few decisions are a 'backfill'."""
    monkeypatch.setattr(statistics, "MIN_GROWTH", 3)
    monkeypatch.setattr(statistics, "_growth", statistics._Growth())


def _analyzed(store: Store) -> dict[str, bool]:
    query = text(
        "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
        "WHERE schemaname = current_schema()"
    )
    with store.engine.connect() as connection:
        return {str(name): bool(done) for name, done in connection.execute(query)}


def _deny(store: Store, n: int) -> None:
    """Person n's Salesforce record says they opted out: one ledger row."""
    link = LinkKey("salesforce", "Contact", f"003P{n:012d}")
    ingest(store, [seen(link, Status.DENIED, n)], n, emails={link: f"p{n}@example.com"})


def test_the_ingest_tables_are_analyzed_once_the_ledger_has_grown(
    pg_url: str, counting: None
) -> None:
    """Two ledger rows stay below the threshold; the third analyzes every table ingestion
    fills, and the next refresh waits until the ledger has grown by half again."""
    with Store.open(pg_url) as store:
        _deny(store, 1)
        _deny(store, 2)
        assert not any(_analyzed(store).values())
        _deny(store, 3)
        analyzed = _analyzed(store)
    tables = {"subjects", "links", "consent_state", "shadows", "ledger", "outbox"}
    assert {name for name, done in analyzed.items() if done} == tables
    assert statistics._growth.basis == 3
