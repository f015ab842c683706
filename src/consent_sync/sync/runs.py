"""A sync run: one unit of work of one system, recorded in `sync_runs` with what it did.

`SyncEngine.cycle` (the `sync` command) and the daemon's scheduler both run their units through
`recorded_run`, so a run is started, measured, logged and finished the same way everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import structlog
from sqlalchemy.exc import SQLAlchemyError

from consent_sync.connectors.protocol import Connector
from consent_sync.logs import brief
from consent_sync.store import Store
from consent_sync.store.views import QUOTA_LIMIT, QUOTA_USED
from consent_sync.sync.report import CycleReport

log = structlog.get_logger(__name__)

#: Counts that a quiet pull reports every time (it re-reads its lookback window): not news.
QUIET_COUNTS = frozenset({"records_read", "observations", "api_calls"})


def run_error(exc: BaseException) -> str:
    """How a run records the exception that ended it: its type and message."""
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def recorded_run(
    store: Store,
    system: str,
    kind: str,
    connector: Connector,
    *,
    clock: Callable[[], datetime],
    on_finish: Callable[[CycleReport], None] | None = None,
    runner: str | None = None,
) -> Iterator[CycleReport]:
    """Run the body as one sync run of `system` and yield the report it fills.

    The run is started in `sync_runs` (not in a dry run), naming `runner` (the daemon replica's
    lease holder id) when given, and log lines inside carry its `run_id` and `system`. On the
    way out the report gets the run's duration and the connector's API calls
    made meanwhile; an exception leaving the body becomes the run's error (unless the body set
    one) and goes on. Then `on_finish` sees the report and the run is finished with its counts
    and error, and the API quota the connector last reported (`quota_counts`). A run that cannot
    be recorded as finished (the database went away) is logged, so that it never hides what the
    body did. A run that ended normally and did something is logged.
    """
    report = CycleReport(system)
    calls_before = connector.api_calls
    started = time.monotonic()
    run_id = None if store.dry_run else store.coordination.start_run(system, kind, clock(), runner)
    context = {"system": system} if run_id is None else {"run_id": str(run_id), "system": system}
    with structlog.contextvars.bound_contextvars(**context):
        try:
            yield report
        except Exception as exc:
            report.error = report.error or run_error(exc)
            raise
        finally:
            report.api_calls = connector.api_calls - calls_before
            report.duration_s = time.monotonic() - started
            if on_finish is not None:
                on_finish(report)
            if run_id is not None:
                try:
                    counts = {**report.counts(), **quota_counts(connector)}
                    store.coordination.finish_run(run_id, counts, report.error, clock())
                except SQLAlchemyError as exc:
                    log.warning("run not recorded as finished", error=brief(exc))
        if did_something(report):
            log.info("run finished", kind=kind, **report.counts())


def quota_counts(connector: Connector) -> dict[str, int]:
    """The connector's API quota as a run records it with its counts; nothing when unknown."""
    quota = connector.quota()
    if quota.used is None or quota.limit is None:
        return {}
    return {QUOTA_USED: quota.used, QUOTA_LIMIT: quota.limit}


def did_something(report: CycleReport) -> bool:
    """Whether a run is worth a log line: it failed, or changed or counted anything not quiet."""
    return bool(report.error) or any(v for k, v in report.counts().items() if k not in QUIET_COUNTS)
