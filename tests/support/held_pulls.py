"""An in-process daemon over the real sandboxes with one connector wrapped, for the tests of
what a long pull does between its pages (webhook reads, revocations owed: docs/design.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.daemon.leases import Leases
from consent_sync.daemon.metrics import SyncMetrics
from consent_sync.daemon.scheduler import SyncScheduler
from consent_sync.store import Store
from consent_sync_sandbox.runner import start_sandbox
from support.daemon import Harness
from support.paths import REPO

CONTACTS = 200  # two HubSpot pages of 100
PULL_INTERVAL = 300  # polling cannot explain anything these tests see


class Held:
    """A connector wrapper whose next full read can be held between its pages: `hold()` arms
    it, `held` is set once the read is held, `release()` lets it go on."""

    def __init__(self, inner: Connector) -> None:
        self._inner = inner
        self._armed = False
        self.held = threading.Event()
        self._released = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def hold(self) -> None:
        self._armed = True

    def release(self) -> None:
        self._released.set()

    def take_hold(self) -> bool:
        """Whether this full read is the one to hold (the first after `hold()`)."""
        armed, self._armed = self._armed, False
        return armed

    def waiting(self) -> bool:
        """Whether the held read must still wait (between two checks, 50 ms apart)."""
        return not self._released.wait(0.05)


@dataclass
class Daemon:
    harness: Harness
    store: Store
    scheduler: SyncScheduler


@contextmanager
def daemon_with(
    tmp_path: Path,
    sqlite_url: str,
    wrap: Callable[[dict[str, Connector]], dict[str, Connector]],
) -> Iterator[Daemon]:
    """Seeded sandboxes, the shipped configuration's connectors (`wrap` replaces some), and
    a started scheduler on `sqlite_url`; everything stopped afterwards."""
    sandbox = start_sandbox(tmp_path / "sandbox", contacts=CONTACTS, seed=13)
    config = load_config(REPO, env=sandbox.env)
    built = {
        name: build_connector(config.connectors[name], config.mappings[name])
        for name in config.connectors
    }
    connectors = wrap(built)
    store = Store.open(sqlite_url)
    scheduler = SyncScheduler(
        store,
        config,
        connectors,
        Leases(store),
        SyncMetrics(store, tuple(connectors)),
        pull_interval=PULL_INTERVAL,
    )
    scheduler.start()
    try:
        yield Daemon(Harness(sandbox, sqlite_url, tmp_path), store, scheduler)
    finally:
        for connector in connectors.values():
            if isinstance(connector, Held):
                connector.release()
        scheduler.stop(10)
        store.close()
        for connector in built.values():
            connector.close()
        sandbox.stop()


def backfilled(store: Store) -> bool:
    """Each system's first pull has finished and nothing is owed to either."""
    pulled = all(
        any(r.kind == "pull" and r.finished_at is not None for r in store.views.recent_runs(s, 5))
        for s in ("salesforce", "hubspot")
    )
    return pulled and not any(b.pending for b in store.views.backlog().values())
