"""/readyz says 503 and why whenever the daemon could not do its job; /healthz stays 200."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from consent_sync.daemon.http.health import health_app
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade


def client(url: str, running: bool) -> TestClient:
    engine = create_store_engine(url)
    return TestClient(health_app(engine, CollectorRegistry(), lambda: running))


def test_ready_when_schema_current_and_scheduler_running(migrated_db_url: str) -> None:
    """Database answering, schema current, scheduler running: 200."""
    response = client(migrated_db_url, running=True).get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_not_ready_while_the_scheduler_is_stopped(migrated_db_url: str) -> None:
    """A stopping daemon is not ready, though still healthy."""
    http = client(migrated_db_url, running=False)
    response = http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["scheduler not running"]
    assert http.get("/healthz").status_code == 200


def test_not_ready_on_an_outdated_schema(tmp_path: Path) -> None:
    """A schema behind this version: 503 naming `consent-sync db upgrade`."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_store_engine(url)
    upgrade(engine, "base")
    engine.dispose()
    response = client(url, running=True).get("/readyz")
    assert response.status_code == 503
    assert "consent-sync db upgrade" in response.json()["problems"][0]


def test_not_ready_when_the_database_is_unreachable() -> None:
    """Nothing listening where the database should be: 503, the URL's password never shown."""
    url = "postgresql+psycopg://consent:hunter2@127.0.0.1:1/none?connect_timeout=2"
    response = client(url, running=True).get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"][0].startswith("database unreachable")
    assert "hunter2" not in response.text


def test_a_trailing_slash_is_404_never_a_redirect_to_the_claimed_host(
    migrated_db_url: str,
) -> None:
    """`/healthz/` with `Host: evil.example` is a JSON 404: no Location built from the Host."""
    http = client(migrated_db_url, running=True)
    for path in ("/healthz/", "/readyz/", "/metrics/"):
        response = http.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
        assert response.status_code == 404
        assert "location" not in response.headers
        assert response.json()["code"] == "not_found"
