"""`/healthz`, `/readyz` and `/metrics`: what an orchestrator and Prometheus ask the daemon.

`/healthz` answers while the process serves HTTP. `/readyz` is 200 only when the database
answers, its schema is the one this version needs and the scheduler is taking work; otherwise 503
with the reasons. A system whose runs keep failing leaves it 200 but "degraded", naming the system,
the kind of run and the last error (`failing_runs.py`). `/metrics` is the Prometheus exposition
of the daemon's registry. The app and
its server are hardened at the edge (`edge.py`): JSON errors, never a 500; no trailing-slash
redirects (they would be built from the Host header); body and header deadlines; a connection cap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from consent_sync.daemon.failing_runs import readiness_detail
from consent_sync.daemon.http.edge import (
    MAX_CONNECTIONS,
    GuardedH11Protocol,
    install_error_handlers,
)
from consent_sync.logs import brief, bug_traceback
from consent_sync.store.schema import SchemaOutdatedError, ensure_current

log = structlog.get_logger(__name__)


def readiness_problems(engine: Engine, scheduler_running: Callable[[], bool]) -> list[str]:
    """Why the daemon is not ready, if it is not: empty when it is."""
    problems = []
    try:
        ensure_current(engine)
    except SchemaOutdatedError as exc:
        problems.append(f"schema: {exc}")
    except SQLAlchemyError as exc:
        problems.append(f"database unreachable: {type(getattr(exc, 'orig', exc)).__name__}")
    if not scheduler_running():
        problems.append("scheduler not running")
    return problems


def health_app(
    engine: Engine, registry: CollectorRegistry, scheduler_running: Callable[[], bool]
) -> FastAPI:
    """The daemon's operational endpoints over one store engine and one metrics registry."""
    app = FastAPI(
        title="consent-sync",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,  # a redirect would name whatever host the request claimed
    )
    install_error_handlers(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        problems = readiness_problems(engine, scheduler_running)
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        failing = readiness_detail(engine)
        if failing:
            # Still ready: this process serves and works; a CRM refusing is not cured by
            # sending webhooks elsewhere or restarting it. The body says which and why.
            return JSONResponse({"status": "degraded", "failing": failing})
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


class HttpServer:
    """uvicorn serving an app from a background thread (signals stay with the main thread)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
            http=GuardedH11Protocol,  # a deadline on headers, see edge.py
            limit_concurrency=MAX_CONNECTIONS,
            server_header=False,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)

    def _serve(self) -> None:
        # uvicorn logs a request's failure itself (through `logging`, see consent_sync.logs);
        # this catches the server's own, which would otherwise end the thread unseen.
        try:
            self.server.run()
        except Exception as exc:
            log.error("HTTP server failed", error=brief(exc), **bug_traceback(exc))

    def start(self, timeout: float = 15.0) -> None:
        """Serve; raise OSError when the server could not listen within `timeout` seconds."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                where = f"{self.server.config.host}:{self.server.config.port}"
                raise OSError(f"could not serve HTTP on {where}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=5)
