"""`consent-sync run` as a service on SQLite: startup checks, HTTP surfaces, poll-path propagation,
and one replica per SQLite file."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from consent_sync.store import Store
from support.convergence import quiescent, shared_granted_people
from support.daemon import Harness
from support.databases import migrate
from support.paths import CONSENT_SYNC
from support.sandboxes import MARKETING
from support.waiting import wait_for

CONTACTS = 300
SANDBOX_SEED = 5


def test_endpoints_answer_as_specified(harness: Harness) -> None:
    """/healthz is 200, /readyz is 200 once running, /metrics exposes the per-system series."""
    daemon = harness.daemon()
    daemon.wait_ready()
    assert daemon.get("/healthz").json() == {"status": "ok"}
    assert daemon.get("/readyz").json() == {"status": "ready"}
    with Store.open(harness.database_url) as store:
        wait_for(lambda: quiescent(store, datetime.min.replace(tzinfo=UTC)), 60, "backfill")
    metrics = daemon.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    body = metrics.text
    for series in (
        'consent_sync_records_pulled_total{system="salesforce"}',
        'consent_sync_decisions_total{system="hubspot"}',
        'consent_sync_writes_total{result="ok",system="salesforce"}',
        'consent_sync_api_calls_total{system="hubspot"}',
        'consent_sync_outbox_depth{state="pending",system="salesforce"} 0.0',
        'consent_sync_oldest_unapplied_revocation_seconds{system="hubspot"} 0.0',
        'consent_sync_cursor_lag_seconds{object="Contact",system="salesforce"}',
        "consent_sync_run_duration_seconds_count",
        'consent_sync_conflicts_total{kind="initial_disagreement"',
        "consent_sync_store_up 1.0",
    ):
        assert series in body, series
    pulled = next(
        line for line in body.splitlines() if line.startswith("consent_sync_records_pulled_total")
    )
    assert float(pulled.rsplit(" ", 1)[1]) >= CONTACTS // 2
    assert daemon.terminate() == 0


def test_hubspot_unsubscribe_reaches_salesforce_on_the_poll_path(harness: Harness) -> None:
    """A footer unsubscribe in HubSpot is in Salesforce within 10 s (pull interval 1 s)."""
    daemon = harness.daemon()
    daemon.wait_ready()
    with Store.open(harness.database_url) as store:
        wait_for(lambda: quiescent(store, datetime.min.replace(tzinfo=UTC)), 60, "backfill")
        person = shared_granted_people(store, 1)[0]
    assert all(r["HasOptedOutOfEmail"] is False for r in harness.salesforce_records(person))
    started = time.monotonic()
    harness.act("hubspot", {"action": "unsubscribe", "email": person, "subscription_id": MARKETING})

    def arrived() -> bool:
        records = harness.salesforce_records(person)
        return bool(records) and all(r["HasOptedOutOfEmail"] is True for r in records)

    wait_for(arrived, 10, "the revocation in Salesforce", every=0.05)
    latency = time.monotonic() - started
    print(f"\npropagation HubSpot -> Salesforce (poll path, 1 s interval): {latency:.2f} s")
    assert daemon.terminate() == 0


def test_second_daemon_on_one_sqlite_file_exits_2(harness: Harness) -> None:
    """SQLite supports one replica: a second `run` on the same file exits 2 and says why."""
    first = harness.daemon()
    first.wait_ready()
    second = harness.daemon()
    assert second.process is not None
    assert second.process.wait(30) == 2
    assert "SQLite supports one replica" in second.tail()
    assert "use PostgreSQL" in second.tail()
    assert first.ready()
    assert first.terminate() == 0


def test_restart_after_kill_9_on_sqlite_is_not_refused(harness: Harness) -> None:
    """The replica lease of a killed daemon on this host does not lock its successor out."""
    first = harness.daemon("--lease-ttl", "600")
    first.wait_ready()
    first.kill()
    second = harness.daemon("--lease-ttl", "600")
    assert second.wait_ready() < 20
    assert second.terminate() == 0


def test_sigterm_exits_0_within_the_grace_when_a_crm_call_hangs(harness: Harness) -> None:
    """A run stuck in a 20 s Salesforce call does not hold shutdown past --grace."""
    daemon = harness.daemon("--grace", "2")
    daemon.wait_ready()
    with harness.control("salesforce") as sf:
        assert sf.put("/_sandbox/faults", json={"latency_ms": 20_000}).status_code == 200
    try:
        with Store.open(harness.database_url) as store:

            def stuck() -> bool:
                """A Salesforce run unfinished for half a second: it waits in its slow call."""
                runs = store.views.recent_runs("salesforce", 1)
                return (
                    bool(runs)
                    and runs[0].finished_at is None
                    and datetime.now(UTC) - runs[0].started_at >= timedelta(seconds=0.5)
                )

            wait_for(stuck, 10, "a Salesforce run in its slow call")
            signalled = time.monotonic()
            assert daemon.terminate(timeout=15) == 0
            assert time.monotonic() - signalled < 6
    finally:
        with harness.control("salesforce") as sf:
            sf.delete("/_sandbox/faults")


def test_invalid_config_is_refused_with_the_errors(harness: Harness, tmp_path: Path) -> None:
    """An invalid configuration directory: exit 2, every error as file:line."""
    (tmp_path / "connectors").mkdir()
    (tmp_path / "mappings").mkdir()
    (tmp_path / "connectors" / "hubspot.yaml").write_text("type: hubspot\nenabled: maybe\n")
    (tmp_path / "mappings" / "purposes.yaml").write_text("purposes: {}\n")
    done = _run(harness.env() | {"CONSENT_SYNC_CONFIG": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert "hubspot.yaml:2" in done.stderr
    assert "invalid configuration" in done.stderr


def test_outdated_schema_is_refused_naming_db_upgrade(harness: Harness, tmp_path: Path) -> None:
    """A database without the current schema: exit 2, naming `consent-sync db upgrade`."""
    url = migrate(f"sqlite:///{tmp_path / 'old.db'}", "base")
    done = _run(harness.env() | {"CONSENT_SYNC_DATABASE_URL": url})
    assert done.returncode == 2, done.stderr
    assert "consent-sync db upgrade" in done.stderr


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`consent-sync run` in the foreground with `env`, for startup refusals."""
    return subprocess.run(
        [CONSENT_SYNC, "run"], env=env, capture_output=True, text=True, timeout=30
    )
