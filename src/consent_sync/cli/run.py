"""`consent-sync run`: the daemon. Scheduled pulls, pushes and sweeps; health, readiness, metrics;
HubSpot webhooks (`POST /webhooks/<system>`) that trigger a targeted read of the named records;
the JSON API under `/api/v1` (bearer tokens from `consent-sync token create`; docs/api.md) and
the on-call console under `/console` (signed in with such a token; docs/console.md).

Startup refuses an invalid configuration and an outdated schema (exit 2). SIGTERM or SIGINT stops
taking work, lets the running batch finish (at most `--grace` seconds), releases every lease and
exits 0, so another replica takes over at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from consent_sync.cli.options import CONFIG_OPTION, EXIT_USAGE, fail

if TYPE_CHECKING:
    from consent_sync.connectors.protocol import Connector
    from consent_sync.daemon.leases import Leases
    from consent_sync.store import Store

#: Process-wide lease on SQLite, which supports one replica.
REPLICA_LEASE = "replica"


def run(
    config: Path | None = CONFIG_OPTION,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address for /healthz, /readyz, /metrics, /webhooks."
    ),
    port: int = typer.Option(
        8080, "--port", help="Port for /healthz, /readyz, /metrics, /webhooks."
    ),
    pull_interval: float | None = typer.Option(
        None,
        "--pull-interval",
        min=0.1,
        help="Seconds between pulls for every system, instead of each connector's schedule.",
    ),
    lease_ttl: float = typer.Option(
        30.0, "--lease-ttl", min=1.0, help="Seconds a dead replica's work stays claimed."
    ),
    grace: float = typer.Option(
        30.0, "--grace", min=0.0, help="Seconds a running batch may take to finish on SIGTERM."
    ),
    log_level: str = typer.Option(
        "INFO", "--log-level", envvar="CONSENT_SYNC_LOG_LEVEL", help="DEBUG, INFO, WARNING..."
    ),
    metrics_auth: bool = typer.Option(
        False,
        "--metrics-auth/--no-metrics-auth",
        envvar="CONSENT_SYNC_METRICS_AUTH",
        help="Require an API token (any scope) for /metrics.",
    ),
) -> None:
    """Run the sync daemon until SIGTERM or Ctrl-C."""
    # The daemon's stack (FastAPI, uvicorn, APScheduler, the CRM SDKs) loads only when it runs.
    import structlog

    from consent_sync.api import ApiContext, create_api, guard_metrics
    from consent_sync.cli.stores import opened_store
    from consent_sync.cli.sync import load_deployment
    from consent_sync.connectors.factory import build_connector
    from consent_sync.console import ConsoleContext, mount_console
    from consent_sync.daemon.http.health import HttpServer, health_app
    from consent_sync.daemon.http.webhooks import webhook_router, webhook_secrets
    from consent_sync.daemon.leases import Leases
    from consent_sync.daemon.metrics import SyncMetrics
    from consent_sync.daemon.scheduler import SyncScheduler
    from consent_sync.domain.mapping import targets
    from consent_sync.logs import configure

    log = structlog.get_logger(__name__)
    configure(log_level)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    deployment = load_deployment(config)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    connectors: dict[str, Connector] = {
        name: build_connector(connector, deployment.mappings[name])
        for name, connector in deployment.connectors.items()
        if connector.enabled and name in deployment.mappings
    }
    with opened_store() as store:
        leases = Leases(store, ttl=timedelta(seconds=lease_ttl))
        _claim_sqlite_replica(store, leases)
        metrics = SyncMetrics(store, tuple(connectors))
        daemon = SyncScheduler(
            store, deployment, connectors, leases, metrics, pull_interval=pull_interval
        )
        app = health_app(store.engine, metrics.registry, lambda: daemon.running)
        app.include_router(
            webhook_router(webhook_secrets(deployment, daemon.systems), daemon.read_now)
        )

        def wake_pushers() -> None:  # a decision recorded through the API propagates at once
            for system in daemon.systems:
                daemon.wake_push(system)

        api = ApiContext(
            store,
            deployment.purposes,
            daemon.systems,
            targets(deployment.mappings),
            wake_pushers=wake_pushers,
            quota=lambda system: connectors[system].quota() if system in connectors else None,
        )
        if metrics_auth:
            guard_metrics(app, api)
        slas = {
            name: connector.limits.revocation_sla_seconds
            for name, connector in deployment.connectors.items()
            if connector.enabled
        }
        mount_console(
            app,
            ConsoleContext(
                api,
                slas,
                daemon_verified=lambda: _verified_at(metrics.ledger.result),
                report_verified=metrics.ledger_verified,
            ),
        )
        app.mount("/", create_api(api))  # last: /healthz, /readyz, /metrics, /webhooks first
        server = HttpServer(app, host, port)
        try:
            server.start()
        except OSError as exc:
            leases.stop()
            raise fail(str(exc)) from None
        daemon.start()
        log.info(
            "consent-sync running",
            # Backend, host and name only: a URL's user@host reads like an email to the redactor.
            database=f"{store.engine.url.get_backend_name()} {store.engine.url.host or ''} "
            f"{store.engine.url.database}",
            http=f"http://{host}:{port}",
            systems=list(connectors),
        )
        stop.wait()
        finished = daemon.stop(grace)
        server.stop()
        for connector in connectors.values():
            connector.close()
        log.info("stopped", clean=finished)
    if not finished:
        # A unit stuck in a CRM call past the grace period: its transactions are atomic and its
        # lease is released, so leaving now loses nothing (I5); waiting on its thread would hang.
        sys.stderr.flush()
        os._exit(0)


def _verified_at(result: tuple[bool, float] | None) -> tuple[bool, datetime] | None:
    """The daemon's last ledger verification (ok, Unix time) as the console shows it."""
    return None if result is None else (result[0], datetime.fromtimestamp(result[1], UTC))


def _claim_sqlite_replica(store: Store, leases: Leases) -> None:
    from consent_sync.store import redact_url

    if store.engine.dialect.name != "sqlite":
        return
    if leases.acquire(REPLICA_LEASE):
        return
    holder = leases.current_holder(REPLICA_LEASE) or "another process"
    raise fail(
        f"the SQLite database {redact_url(str(store.engine.url))} is in use by another "
        f"consent-sync run ({holder}); SQLite supports one replica, use PostgreSQL to run more",
        EXIT_USAGE,
    )
