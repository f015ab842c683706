"""PostgreSQL restarted under a running daemon: work pauses and resumes by itself, loses nothing."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from consent_sync.store import Store
from support.convergence import quiescent, shared_granted_people
from support.daemon import Harness
from support.databases import postgres_up
from support.sandboxes import MARKETING
from support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.serial]  # every connection is cut

CONTACTS = 500
SANDBOX_SEED = 3
DATABASE = "pg_url"


def restart_postgres() -> None:
    """Restart the local cluster (fast shutdown: every connection is cut)."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        timeout=60,
    )


@pytest.fixture(autouse=True)
def _postgres_back_afterwards(pg_url: str) -> Iterator[None]:
    """However the test ends, PostgreSQL is up again before its database is dropped."""
    yield
    wait_for(postgres_up, 60, "PostgreSQL to be back for the next tests")


def test_daemon_survives_a_postgres_restart_and_loses_nothing(harness: Harness) -> None:
    """A restart mid-run: the same process recovers, and revocations made around it all land."""
    daemon = harness.daemon()
    daemon.wait_ready()
    with Store.open(harness.database_url) as store:
        wait_for(lambda: quiescent(store, datetime.min.replace(tzinfo=UTC)), 60, "backfill")
        before, during, after = shared_granted_people(store, 3)
    harness.act("hubspot", {"action": "unsubscribe", "email": before, "subscription_id": MARKETING})
    not_ready: list[int] = []
    watching = threading.Event()

    def watch_readiness() -> None:
        while not watching.wait(0.1):
            try:
                if daemon.get("/readyz").status_code == 503:
                    not_ready.append(503)
            except httpx.HTTPError:
                continue

    watcher = threading.Thread(target=watch_readiness, daemon=True)
    watcher.start()
    restart = threading.Thread(target=restart_postgres)
    restart.start()
    harness.act("hubspot", {"action": "unsubscribe", "email": during, "subscription_id": MARKETING})
    restart.join(60)
    restarted = datetime.now(UTC)
    harness.act("hubspot", {"action": "unsubscribe", "email": after, "subscription_id": MARKETING})
    assert daemon.process is not None and daemon.process.poll() is None, daemon.tail()

    def all_landed() -> bool:
        return all(
            all(r["HasOptedOutOfEmail"] is True for r in harness.salesforce_records(p))
            for p in (before, during, after)
        )

    recovered = wait_for(all_landed, 60, "every revocation in Salesforce", every=0.2)
    print(f"\nall three revocations in Salesforce {recovered:.2f} s after the restart")
    wait_for(daemon.ready, 30, "readiness after the restart")
    watching.set()
    watcher.join(5)
    with Store.open(harness.database_url) as store:
        wait_for(lambda: quiescent(store, restarted), 60, "quiescence after the restart")
        assert store.views.verify_ledger().ok
        states = {
            p: {s.purpose: s.status for s in store.views.subject(p).states}["email_marketing"]
            for p in (before, during, after)
        }
    assert set(states.values()) == {"denied"}, states
    assert daemon.terminate() == 0
