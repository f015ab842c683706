"""Failures at job and thread boundaries: a bug is logged with its traceback as redacted data, an
expected failure in one line."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pytest
import structlog

from consent_sync.config import load_config
from consent_sync.connectors.protocol import Connector, PermanentError
from consent_sync.daemon.leases import Leases
from consent_sync.daemon.metrics import SyncMetrics
from consent_sync.daemon.scheduler import SyncScheduler
from consent_sync.domain.records import FieldWrite, Page, WriteResult
from consent_sync.logs import bug_traceback, configure
from consent_sync.store import Store
from support.config_files import OFFLINE_ENV
from support.connectors import StandInConnector
from support.paths import REPO

#: How `boom for ada@example.com (6)` reads once redacted.
EMAIL_6 = r"boom for <email:[0-9a-f]{8}> \(6\)"


def _fail_for(email: str) -> None:
    client_secret = "s3cr3t"  # a local the traceback must not show
    raise RuntimeError(f"boom for {email} ({len(client_secret)})")


def _raised() -> RuntimeError:
    try:
        _fail_for("ada@example.com")
    except RuntimeError as exc:
        return exc
    raise AssertionError("nothing raised")


def _json_lines(err: str) -> list[dict[str, Any]]:
    lines = []
    for line in err.splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return lines


class FailingCrm(StandInConnector):
    """A CRM whose every pull fails with `error`."""

    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error = error

    def pull(self, object_type: str, since: datetime | None) -> Iterator[Page]:
        raise self.error

    def write(self, object_type: str, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        return []


@pytest.fixture(autouse=True)
def _default_logging_afterwards() -> Iterator[None]:
    """Each test configures logging; the next test starts from the defaults again."""
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    structlog.reset_defaults()
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)


def test_a_bug_logs_its_frames_as_json_without_locals_and_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """JSON output carries the traceback as data: type, message, frames; no locals, no email."""
    configure("INFO", json=True)
    exc = _raised()
    structlog.get_logger("t").error("unit of work failed", **bug_traceback(exc))
    (line,) = _json_lines(capsys.readouterr().err)
    (stack,) = line["exception"]
    assert stack["exc_type"] == "RuntimeError"
    assert re.fullmatch(EMAIL_6, stack["exc_value"])
    assert [frame["name"] for frame in stack["frames"]] == ["_raised", "_fail_for"]
    assert all("locals" not in frame for frame in stack["frames"])
    assert "ada@example.com" not in json.dumps(line)
    assert "s3cr3t" not in json.dumps(line)


def test_a_bug_logs_a_readable_redacted_traceback_on_a_console(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The console renderer prints a plain traceback under the line, the email redacted."""
    configure("INFO", json=False)
    structlog.get_logger("t").error("unit of work failed", **bug_traceback(_raised()))
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err
    assert "in _fail_for" in err
    assert re.search(rf"RuntimeError: {EMAIL_6}", err)
    assert "ada@example.com" not in err
    assert "s3cr3t" not in err


def test_expected_failures_carry_no_traceback() -> None:
    """A ConsentSyncError is explained by its message; only other exceptions are bugs."""
    assert bug_traceback(PermanentError("refused", system="salesforce")) == {}
    exc = _raised()
    assert bug_traceback(exc) == {"exc_info": exc}


def test_standard_library_errors_arrive_as_redacted_json_with_their_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A library's `logging` error (in the daemon: uvicorn's "Exception in ASGI application")
    becomes one of our lines."""
    configure("INFO", json=True)
    exc = _raised()
    logging.getLogger("some.library").error("Exception in ASGI application", exc_info=exc)
    (line,) = [
        line
        for line in _json_lines(capsys.readouterr().err)
        if line.get("event") == "Exception in ASGI application"
    ]
    assert (line["level"], line["logger"]) == ("error", "some.library")
    assert re.fullmatch(EMAIL_6, line["exception"][0]["exc_value"])


def test_a_failing_unit_of_work_logs_a_bug_with_its_traceback_and_a_crm_refusal_in_one_line(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scheduler's pulls: an unexpected RuntimeError is logged with its frames, the email
    in its message redacted; a ConnectorError is logged as one line without a traceback."""
    configure("INFO", json=True)
    config = load_config(REPO, env=OFFLINE_ENV)
    connectors: dict[str, Connector] = {
        "salesforce": FailingCrm("salesforce", RuntimeError("boom for ada@example.com")),
        "hubspot": FailingCrm("hubspot", PermanentError("HTTP 403", system="hubspot")),
    }
    daemon = SyncScheduler(
        store,
        config,
        connectors,
        Leases(store),
        SyncMetrics(store, tuple(connectors)),
        pull_interval=3600,
    )
    daemon.start()
    try:
        deadline = time.monotonic() + 30
        while not all(
            any(run.kind == "pull" and run.finished_at for run in store.views.recent_runs(system))
            for system in connectors
        ):
            assert time.monotonic() < deadline, "the first pulls did not finish"
            time.sleep(0.1)
    finally:
        daemon.stop(10)
    failed = {
        line["system"]: line
        for line in _json_lines(capsys.readouterr().err)
        if line.get("event") == "run failed"
    }
    bug, refusal = failed["salesforce"], failed["hubspot"]
    assert re.fullmatch(r"RuntimeError: boom for <email:[0-9a-f]{8}>", bug["error"])
    (stack,) = bug["exception"]
    assert stack["exc_type"] == "RuntimeError"
    assert "boom" in stack["exc_value"]
    assert "ada@example.com" not in json.dumps(bug)
    assert stack["frames"][-1]["name"] == "pull"
    assert refusal["error"] == "PermanentError: hubspot: HTTP 403"
    assert "exception" not in refusal
