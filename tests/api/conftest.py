"""Fixtures for the API tests: a real uvicorn server with /api/v1 over a migrated store (SQLite
and PostgreSQL), and a token of each scope; the daemon-level fixtures for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync.api import ApiContext, create_api
from consent_sync.config import load_purposes
from consent_sync.daemon.http import HttpServer
from consent_sync.store import Scope, Store
from support.daemon import harness
from support.databases import migrate, pg_url, sqlite_url
from support.paths import REPO
from support.ports import free_port
from support.sandboxes import sandbox

__all__ = [
    "ApiServer",
    "api",
    "harness",
    "pg_url",
    "sandbox",
    "serving",
    "shared_api",
    "sqlite_url",
]


@dataclass
class ApiServer:
    """The API served over HTTP on loopback, with one live token per scope."""

    store: Store
    base_url: str
    tokens: dict[Scope, str]
    woken: list[int] = field(default_factory=list)  # one entry per wake of the pushers

    def client(self, scope: Scope | None = Scope.ADMIN, **headers: str) -> httpx.Client:
        """A client sending the token of `scope` (none when None)."""
        sent = dict(headers)
        if scope is not None:
            sent["Authorization"] = f"Bearer {self.tokens[scope]}"
        return httpx.Client(base_url=self.base_url, headers=sent, timeout=30)

    def post(
        self, path: str, body: Any, scope: Scope = Scope.WRITE, **headers: str
    ) -> httpx.Response:
        """POST JSON with the token of `scope`."""
        with self.client(scope, **headers) as client:
            return client.post(path, json=body)


@contextmanager
def serving(store: Store, config_dir: Path = REPO) -> Iterator[ApiServer]:
    """/api/v1 over `store` and the purposes of `config_dir` (the repository's by default) on a
    free port, a token per scope."""
    now = datetime.now(UTC)
    tokens = {scope: store.tokens.create(f"test-{scope.value}", scope, now) for scope in Scope}
    woken: list[int] = []
    ctx = ApiContext(
        store,
        load_purposes(config_dir),
        ("salesforce", "hubspot"),
        wake_pushers=lambda: woken.append(1),
    )
    port = free_port()
    server = HttpServer(create_api(ctx), "127.0.0.1", port)
    server.start()
    try:
        yield ApiServer(store, f"http://127.0.0.1:{port}", tokens, woken)
    finally:
        server.stop()


@pytest.fixture
def api(store: Store) -> Iterator[ApiServer]:
    """The API over the test's own store (SQLite and PostgreSQL)."""
    with serving(store) as server:
        yield server


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One API over one SQLite file for a whole module that only reads or is refused."""
    url = migrate(f"sqlite:///{tmp_path_factory.mktemp('api') / 'consent-sync.db'}")
    with Store.open(url) as store, serving(store) as server:
        yield server
