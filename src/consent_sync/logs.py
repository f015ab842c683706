"""Logging: structlog to stderr, JSON when not on a TTY, emails and secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Local parts may hold apostrophes (o'brien@...): over-redacting a quote is the safe side.
_EMAIL = re.compile(r"[^\s@\"<>(),;:]+@[^\s@\"'<>(),;:]+\.[^\s@\"'<>(),;:]+")
_SECRET_KEYS = frozenset(
    {"password", "client_secret", "access_token", "token", "authorization", "secret"}
)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace secret-named values and anything shaped like an email address."""
    for key, value in list(event.items()):
        if key.lower() in _SECRET_KEYS:
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = _EMAIL.sub("<email>", value)
    return event


class _StderrLogger:
    """Writes each rendered line to whatever `sys.stderr` is at that moment.

    structlog's PrintLogger keeps the stream it was created with; a stream swapped out since
    (a test runner's capture, a CLI runner) would be closed by the time a line arrives.
    """

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stderr_logger(*_: Any) -> _StderrLogger:
    return _StderrLogger()


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Set up structlog for the CLI and the daemon (call once, early)."""
    # APScheduler says at WARNING that a coalesced run was skipped: by design, not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            numeric if isinstance(numeric, int) else logging.INFO
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
