"""A system whose runs keep failing shows: each failed run is recorded in `sync_runs` with its
reason, `/readyz` names the system and why (still 200: the daemon itself is fine) and
`/metrics` counts the streak; one good run clears both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from consent_sync.config import load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import PermanentError
from consent_sync.connectors.retry import RetryPolicy
from consent_sync.daemon.failing_runs import FAILING_AFTER
from consent_sync.daemon.http.health import health_app
from consent_sync.daemon.metrics import SyncMetrics
from consent_sync.store import Store
from consent_sync.sync.engine import SyncEngine
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.databases import migrate
from support.paths import REPO
from support.sandboxes import sandbox_control

FAST = RetryPolicy(attempts=2, max_elapsed=5, initial_wait=0.01, max_wait=0.05)
REFUSAL = {
    "path": "/query",
    "status": 400,
    "body": [{"errorCode": "MALFORMED_QUERY", "message": "row of ada@example.com is locked"}],
}
Parts = tuple[SyncEngine, TestClient, SyncMetrics, RunningSandbox]


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    """A Salesforce and HubSpot sandbox, a SQLite store, the engine, /readyz and the metrics."""
    sandbox = start_sandbox(tmp_path / "sandbox", contacts=20, seed=1)
    url = migrate(f"sqlite:///{tmp_path / 'store.db'}")
    config = load_config(REPO, env=sandbox.env)
    connectors = {
        name: build_connector(config.connectors[name], config.mappings[name], retry=FAST)
        for name in config.connectors
    }
    store = Store.open(url)
    metrics = SyncMetrics(store, tuple(connectors))
    http = TestClient(health_app(store.engine, metrics.registry, lambda: True))
    try:
        yield SyncEngine(store, config, connectors), http, metrics, sandbox
    finally:
        store.close()
        for connector in connectors.values():
            connector.close()
        sandbox.stop()


def _streak(metrics: SyncMetrics, system: str, kind: str) -> float | None:
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            if sample.name == "consent_sync_consecutive_failed_runs" and sample.labels == {
                "system": system,
                "kind": kind,
            }:
                return sample.value
    return None


def test_runs_that_keep_failing_show_in_readyz_and_metrics_until_one_succeeds(
    parts: Parts,
) -> None:
    """Salesforce refusing every query: after three failed runs /readyz says degraded, names
    salesforce and the error (its email redacted), the gauge says 3; a good run clears both."""
    engine, http, metrics, sandbox = parts
    engine.cycle("hubspot")
    with sandbox_control(sandbox, "salesforce") as sf:
        sf.put("/_sandbox/faults", json={"rules": [REFUSAL]}).raise_for_status()
        for _ in range(FAILING_AFTER):
            with pytest.raises(PermanentError):
                engine.cycle("salesforce")
        runs = engine.store.views.recent_runs("salesforce", FAILING_AFTER)
        assert all(run.error and "MALFORMED_QUERY" in run.error for run in runs)

        ready = http.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded"
        (failing,) = body["failing"]
        assert failing["system"] == "salesforce" and failing["kind"] == "cycle"
        assert failing["consecutive_failed_runs"] == FAILING_AFTER
        assert "MALFORMED_QUERY" in failing["last_error"]
        assert "ada@example.com" not in ready.text
        assert _streak(metrics, "salesforce", "cycle") == FAILING_AFTER
        assert _streak(metrics, "hubspot", "cycle") == 0

        sf.put("/_sandbox/faults", json={}).raise_for_status()
    engine.cycle("salesforce")
    assert http.get("/readyz").json() == {"status": "ready"}
    assert _streak(metrics, "salesforce", "cycle") == 0
