"""A pull reads page N+1 while page N commits, and a crash in between loses nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import pytest
from sqlalchemy import text

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.store import Store
from consent_sync.sync import CycleReport, SyncEngine
from consent_sync.sync.prefetch import prefetched
from consent_sync_sandbox.runner import RunningSandbox
from support.paths import REPO
from support.sandboxes import sandbox
from support.waiting import wait_for

__all__ = ["sandbox"]

CONTACTS = 350  # four HubSpot pages of 100


def test_pages_come_in_order_and_never_more_than_one_ahead() -> None:
    """Page N+1 is fetched while the caller holds page N, page N+2 only after N+1 is taken."""
    log: list[str] = []

    def pages() -> Iterator[int]:
        for n in range(4):
            log.append(f"fetch {n}")
            yield n

    got = []
    with closing(prefetched(pages())) as ahead:
        for page in ahead:
            wait_for(lambda page=page: f"fetch {page + 1}" in log or page == 3, 10, "a prefetch")
            assert f"fetch {page + 2}" not in log
            got.append(page)
    assert got == [0, 1, 2, 3]


def test_an_error_fetching_a_page_comes_after_the_pages_before_it() -> None:
    """The caller handles every page fetched before the failing one, then gets its error."""

    def pages() -> Iterator[int]:
        yield 0
        yield 1
        raise ConnectionError("page 2")

    ahead = prefetched(pages())
    assert [next(ahead), next(ahead)] == [0, 1]
    with pytest.raises(ConnectionError, match="page 2"):
        next(ahead)


class Crash(Exception):
    """The process dies right after a page committed, with the next page already fetched."""


def _hubspot_links(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM links WHERE system = 'hubspot'")
            ).scalar_one()
        )


def test_a_crash_after_the_next_page_was_fetched_loses_nothing(
    sandbox: RunningSandbox, store: Store
) -> None:
    """Die after page 1 commits (page 2 prefetched, never committed): the cursor has not moved
    past what was committed, and the next pull reads every record."""
    config = load_config(REPO, env=sandbox.env)
    connector = build_connector(config.connectors["hubspot"], config.mappings["hubspot"])
    committed: list[int] = []

    def progress(_label: str, records: int) -> None:
        committed.append(records)
        if len(committed) == 1:
            raise Crash

    try:
        engine = SyncEngine(store, config, {"hubspot": connector}, progress=progress)
        with pytest.raises(Crash):
            engine.pull("hubspot", CycleReport("hubspot"))
        first = _hubspot_links(store)
        assert 0 < first < CONTACTS
        # A backfill's pages carry no watermark until the listing ends: nothing to advance.
        assert store.coordination.cursor("hubspot", "contacts") is None
        again = SyncEngine(store, config, {"hubspot": connector})
        again.pull("hubspot", CycleReport("hubspot"))
        assert _hubspot_links(store) == CONTACTS
    finally:
        connector.close()
