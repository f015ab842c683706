"""The daemon the demo runs in-process on its stage, and `demo --serve`: the same daemon with its
HTTP app (health, metrics, /api/v1 and the on-call console, docs/console.md) until Ctrl-C."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from consent_sync.api import ApiContext, create_api
from consent_sync.console import ConsoleContext, mount_console
from consent_sync.daemon.http import HttpServer, health_app
from consent_sync.daemon.leases import Leases
from consent_sync.daemon.metrics import SyncMetrics
from consent_sync.daemon.scheduler import SyncScheduler
from consent_sync.domain.mapping import targets
from consent_sync.store import Scope
from consent_sync_sandbox.stage import Stage

Say = Callable[[str], None]


def in_process_daemon(stage: Stage, pull_interval: float) -> tuple[SyncMetrics, SyncScheduler]:
    """The daemon's scheduler over the demo's store, pushing as often as it pulls."""
    metrics = SyncMetrics(stage.store, stage.systems)
    scheduler = SyncScheduler(
        stage.store,
        stage.config,
        stage.connectors,
        Leases(stage.store),
        metrics,
        pull_interval=pull_interval,
        push_interval=pull_interval,
    )
    return metrics, scheduler


def serve_console(
    stage: Stage,
    say: Say,
    stop: threading.Event,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    pull_interval: float = 1.0,
) -> None:
    """Keep the daemon running on the demo's store, with its HTTP app (health, metrics, /api/v1
    and the console), until `stop` is set; print the console's URL and a fresh write token."""
    metrics, scheduler = in_process_daemon(stage, pull_interval)

    def wake_pushers() -> None:
        for system in scheduler.systems:
            scheduler.wake_push(system)

    api = ApiContext(
        stage.store,
        stage.config.purposes,
        scheduler.systems,
        targets(stage.config.mappings),
        wake_pushers=wake_pushers,
        quota=lambda system: stage.connectors[system].quota(),
    )
    slas = {
        name: stage.config.connectors[name].limits.revocation_sla_seconds for name in stage.systems
    }
    app = health_app(stage.store.engine, metrics.registry, lambda: scheduler.running)
    mount_console(
        app,
        ConsoleContext(
            api,
            slas,
            daemon_verified=lambda: _verified(metrics.ledger.result),
            report_verified=metrics.ledger_verified,
        ),
    )
    app.mount("/", create_api(api))
    server = _listening(app, host, port)
    scheduler.start()
    try:
        token = stage.store.tokens.create("demo-oncall", Scope.WRITE, datetime.now(UTC))
        bound = server.server.config.port
        say("")
        say("The daemon keeps running with its HTTP app. On-call console:")
        say(f"   http://{host}:{bound}/console/  (API: http://{host}:{bound}/api/v1)")
        say(
            "   sign in with this write token (shown once; revoke: "
            "`consent-sync token revoke demo-oncall`):"
        )
        say(token)
        say("Serving until Ctrl-C.")
        stop.wait()
    finally:
        scheduler.stop(grace=15)
        server.stop()


def _listening(app: FastAPI, host: str, port: int) -> HttpServer:
    """The app served on `port`, or on a free port when that one is taken."""
    try:
        server = HttpServer(app, host, port)
        server.start()
    except OSError:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        server = HttpServer(app, host, port)
        server.start()
    return server


def _verified(result: tuple[bool, float] | None) -> tuple[bool, datetime] | None:
    return None if result is None else (result[0], datetime.fromtimestamp(result[1], UTC))
