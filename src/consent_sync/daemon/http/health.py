"""`/healthz`, `/readyz` and `/metrics`: what an orchestrator and Prometheus ask the daemon.

`/healthz` answers while the process serves HTTP. `/readyz` is 200 only when the database
answers, its schema is the one this version needs and the scheduler is taking work; otherwise 503
with the reasons. `/metrics` is the Prometheus exposition of the daemon's registry.
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
    app = FastAPI(title="consent-sync", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        problems = readiness_problems(engine, scheduler_running)
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
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
